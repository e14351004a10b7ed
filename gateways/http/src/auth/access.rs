//! Who may call each route: one table for the routes of the OpenAPI document, a rule for the
//! others, and the document's security requirements written from it.

use axum::http::Method;
use eventmall_store::keys::Role;
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};

use crate::problem::{PROBLEM_JSON, documented};

/// Who may call a route. An admin key may call every route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Anyone,
    Partner,
    Customer,
    /// The customer or the partner of an order.
    PartnerOrCustomer,
    Admin,
}

impl Access {
    /// The roles it names, as the OpenAPI document's scopes.
    fn roles(self) -> &'static [Role] {
        match self {
            Access::Anyone => &[],
            Access::Partner => &[Role::Partner],
            Access::Customer => &[Role::Customer],
            Access::PartnerOrCustomer => &[Role::Partner, Role::Customer],
            Access::Admin => &[Role::Admin],
        }
    }

    pub fn admits(self, role: Role) -> bool {
        role == Role::Admin || self == Access::Anyone || self.roles().contains(&role)
    }
}

/// Who may call each route of the OpenAPI document.
pub const ACCESS: &[(&str, &str, Access)] = {
    use Access::*;
    &[
        ("get", "/healthz", Anyone),
        ("get", "/readyz", Anyone),
        ("get", "/v1/search", Anyone),
        ("get", "/v1/search/suggest", Anyone),
        ("get", "/v1/products/{id}", Anyone),
        ("get", "/v1/products/{id}/bought-together", Anyone),
        ("get", "/v1/products/{id}/also-bought", Anyone),
        ("get", "/v1/trending", Anyone),
        ("post", "/v1/products", Partner),
        ("post", "/v1/products/{id}/details", Partner),
        ("post", "/v1/products/{id}/price", Partner),
        ("post", "/v1/products/{id}/stock", Partner),
        ("post", "/v1/products/{id}/delist", Partner),
        ("post", "/v1/products/{id}/relist", Partner),
        ("get", "/v1/products/{id}/state", Partner),
        ("get", "/v1/products/{id}/events", Partner),
        ("post", "/v1/orders", Customer),
        ("post", "/v1/orders/{id}/pay", Customer),
        ("post", "/v1/orders/{id}/ship", Partner),
        ("post", "/v1/orders/{id}/deliver", Partner),
        ("post", "/v1/orders/{id}/confirm", Customer),
        ("post", "/v1/orders/{id}/cancel", PartnerOrCustomer),
        ("post", "/v1/orders/{id}/return", Customer),
        ("get", "/v1/orders/{id}/state", PartnerOrCustomer),
        ("get", "/v1/orders/{id}/events", PartnerOrCustomer),
        ("get", "/v1/orders/{id}", PartnerOrCustomer),
        ("post", "/v1/payments", Customer),
        ("post", "/v1/payments/{id}/authorize", Customer),
        ("post", "/v1/payments/{id}/decline", Customer),
        ("post", "/v1/payments/{id}/capture", Customer),
        ("post", "/v1/payments/{id}/refund", Customer),
        ("post", "/v1/payments/{id}/void", Customer),
        ("get", "/v1/payments/{id}", Customer),
        ("get", "/v1/payments/{id}/events", Customer),
        ("get", "/v1/customers/{id}/orders", Customer),
        ("get", "/v1/customers/{id}/profile", Customer),
        ("get", "/v1/customers/{id}/recommendations", Customer),
        ("get", "/v1/partners/{id}/orders", Partner),
        ("get", "/v1/partners/{id}/sales", Partner),
        ("get", "/v1/partners/{id}/settlements", Partner),
        ("post", "/v1/partners/{id}/feeds", Partner),
        ("get", "/v1/partners/{id}/feeds", Partner),
        ("get", "/v1/partners/{id}/feeds/{run}", Partner),
        ("get", "/v1/partners/{id}/feeds/{run}/rejections", Partner),
        ("put", "/v1/partners/{id}/feed-mappings/{format}", Partner),
        ("get", "/v1/partners/{id}/feed-mappings/{format}", Partner),
        ("get", "/v1/projections", Admin),
        ("get", "/v1/relay", Admin),
        ("get", "/metrics", Admin),
        ("get", "/v1/me", Anyone),
        ("get", "/v1/admin/topics/{topic}/latest", Admin),
        ("get", "/v1/admin/dead-letters", Admin),
        ("get", "/v1/admin/dead-letters/{partition}/{offset}", Admin),
        (
            "post",
            "/v1/admin/dead-letters/{partition}/{offset}/retry",
            Admin,
        ),
        ("get", "/v1/admin/projections/{name}", Admin),
        ("post", "/v1/admin/projections/{name}/rebuilds", Admin),
        ("get", "/v1/admin/projections/{name}/rebuilds/{id}", Admin),
        ("post", "/v1/admin/projections/{name}/swap", Admin),
        ("post", "/v1/admin/projections/{name}/rollback", Admin),
        ("post", "/v1/admin/projections/{name}/verify", Admin),
        ("post", "/v1/admin/keys", Admin),
        ("get", "/v1/admin/keys", Admin),
        ("delete", "/v1/admin/keys/{key_id}", Admin),
        ("post", "/v1/admin/keys/{key_id}/rotate", Admin),
        ("post", "/v1/admin/customers/{id}/forget", Admin),
    ]
};

/// Who may call a route: its line in [`ACCESS`]; a route outside the OpenAPI document (the
/// schema registry's, the docs) may be read by anyone and written by an admin.
pub fn access(method: &Method, path: &str) -> Access {
    let line = ACCESS
        .iter()
        .find(|(m, p, _)| *p == path && method.as_str().eq_ignore_ascii_case(m));
    match line {
        Some((_, _, access)) => *access,
        None if matches!(*method, Method::GET | Method::HEAD) => Access::Anyone,
        None => Access::Admin,
    }
}

/// The name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "apiKey";

/// Writes [`ACCESS`] into the document: the bearer scheme, and each operation's requirement
/// (none for a route anyone may call; the roles, as scopes, for the others).
pub fn document(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("emk_…")
                .description(Some(
                    "An API key: `Authorization: Bearer emk_…`. Its role (admin, partner, \
                     customer) is the scope each operation names; an admin key may call any.",
                ))
                .build(),
        ),
    );
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let access = access(&method, path);
            let mut problems = vec![
                (
                    "401",
                    "The `Authorization` header is not `Bearer <key>`, or the key is unknown or revoked",
                ),
                (
                    "429",
                    "The key is over its rate limit; retry after `Retry-After` seconds",
                ),
            ];
            if access != Access::Anyone {
                problems.push(("403", "The key's role may not call this route, or the resource is another partner's or customer's"));
            }
            for (status, description) in problems {
                let response = documented(description, PROBLEM_JSON, "Problem").build();
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(RefOr::T(response));
            }
            let requirement = match access {
                Access::Anyone => SecurityRequirement::default(),
                access => {
                    let mut roles: Vec<&str> = access.roles().iter().map(|r| r.as_str()).collect();
                    if !roles.contains(&"admin") {
                        roles.push("admin");
                    }
                    SecurityRequirement::new(SCHEME, roles)
                }
            };
            operation.security = Some(vec![requirement]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the document has its line in [`ACCESS`], and every line an
    /// operation: a route added without saying who may call it fails here.
    #[test]
    fn every_route_says_who_may_call_it() {
        let document = crate::routes().into_openapi();
        let mut operations = Vec::new();
        for (path, item) in &document.paths.paths {
            for (method, operation) in [
                ("get", &item.get),
                ("put", &item.put),
                ("post", &item.post),
                ("delete", &item.delete),
                ("patch", &item.patch),
            ] {
                if operation.is_some() {
                    operations.push((method, path.as_str()));
                }
            }
        }
        let mut lines: Vec<(&str, &str)> = ACCESS.iter().map(|(m, p, _)| (*m, *p)).collect();
        operations.sort_unstable();
        lines.sort_unstable();
        assert_eq!(operations, lines);
    }

    #[test]
    fn an_admin_may_call_anything_and_others_their_roles() {
        assert!(Access::Partner.admits(Role::Admin));
        assert!(Access::PartnerOrCustomer.admits(Role::Customer));
        assert!(!Access::Partner.admits(Role::Customer));
        assert!(!Access::Admin.admits(Role::Partner));
        assert_eq!(access(&Method::GET, "/subjects"), Access::Anyone);
        assert_eq!(access(&Method::POST, "/subjects/x/versions"), Access::Admin);
        assert_eq!(access(&Method::DELETE, "/config"), Access::Admin);
    }
}
