//! What the read routes ask of the order views.

use chrono::{DateTime, NaiveDate, Utc};
use eventmall_projections::Contents;
use eventmall_projections::orders::{
    CommissionRate, OrderStatus, OrderView, PaymentView, SalesDelta, Settlement,
};
use serde::Serialize;
use sqlx::Row;

use super::{OrderViews, Tables};
use crate::database::begin_snapshot;
use crate::{Result, checkpoints};

/// A page of orders, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// Which of a partner's orders to list.
#[derive(Clone, Debug, Default)]
pub struct PartnerOrdersFilter {
    pub status: Option<OrderStatus>,
    /// Seoul days the order was placed on, inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DailySales {
    pub day: NaiveDate,
    pub currency: String,
    #[serde(flatten)]
    pub sales: SalesDelta,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerProfile {
    pub customer_id: String,
    pub orders: i64,
    pub spent: i64,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Top-level categories by paid orders, most first.
    pub top_categories: Vec<CategoryCount>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub category: String,
    pub orders: i64,
}

const SALES_COLUMNS: &str = "CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT), \
     CAST(SUM(gross) AS BIGINT), CAST(SUM(cancellations) AS BIGINT), \
     CAST(SUM(cancelled) AS BIGINT), CAST(SUM(refunds) AS BIGINT), CAST(SUM(net) AS BIGINT)";

fn sales_at(row: &sqlx::any::AnyRow, first: usize) -> sqlx::Result<SalesDelta> {
    Ok(SalesDelta {
        orders: row.try_get(first)?,
        units: row.try_get(first + 1)?,
        gross: row.try_get(first + 2)?,
        cancellations: row.try_get(first + 3)?,
        cancelled: row.try_get(first + 4)?,
        refunds: row.try_get(first + 5)?,
        net: row.try_get(first + 6)?,
    })
}

fn parse_views(rows: Vec<String>) -> Result<Vec<OrderView>> {
    rows.iter()
        .map(|json| Ok(serde_json::from_str(json)?))
        .collect()
}

impl OrderViews {
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderView>> {
        let sql = format!(
            "SELECT view FROM {} WHERE order_id = $1",
            self.tables.orders
        );
        let json: Option<String> = sqlx::query_scalar(&sql)
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(json.map(|json| serde_json::from_str(&json)).transpose()?)
    }

    /// The payments of an order, oldest first.
    pub async fn payments_of(&self, order_id: &str) -> Result<Vec<PaymentView>> {
        let sql = format!(
            "SELECT view FROM {} WHERE order_id = $1",
            self.tables.payments
        );
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .bind(order_id)
            .fetch_all(&self.pool)
            .await?;
        let mut payments = rows
            .iter()
            .map(|json| serde_json::from_str::<PaymentView>(json))
            .collect::<Result<Vec<_>, _>>()?;
        payments
            .sort_by(|a, b| (a.requested_at, &a.payment_id).cmp(&(b.requested_at, &b.payment_id)));
        Ok(payments)
    }

    pub async fn customer_orders(
        &self,
        customer_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<OrderPage> {
        let orders = &self.tables.orders;
        let sql = format!(
            "SELECT view FROM {orders} WHERE customer_id = $1 \
             ORDER BY placed_at_ms DESC, order_id DESC LIMIT $2 OFFSET $3"
        );
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .bind(customer_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let count = format!("SELECT COUNT(*) FROM {orders} WHERE customer_id = $1");
        let total: i64 = sqlx::query_scalar(&count)
            .bind(customer_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(OrderPage {
            orders: parse_views(rows)?,
            total,
            offset,
            limit,
        })
    }

    pub async fn partner_orders(
        &self,
        partner_id: &str,
        filter: &PartnerOrdersFilter,
        offset: i64,
        limit: i64,
    ) -> Result<OrderPage> {
        let mut conditions = vec!["partner_id = $1".to_owned()];
        let mut binds: Vec<String> = vec![partner_id.to_owned()];
        if let Some(status) = filter.status {
            binds.push(status.as_str().to_owned());
            conditions.push(format!("status = ${}", binds.len()));
        }
        if let Some(from) = filter.from {
            binds.push(from.to_string());
            conditions.push(format!("placed_day >= ${}", binds.len()));
        }
        if let Some(to) = filter.to {
            binds.push(to.to_string());
            conditions.push(format!("placed_day <= ${}", binds.len()));
        }
        let orders = &self.tables.orders;
        let condition = conditions.join(" AND ");
        let n = binds.len();
        let sql = format!(
            "SELECT view FROM {orders} WHERE {condition} \
             ORDER BY placed_at_ms DESC, order_id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for bind in &binds {
            query = query.bind(bind);
        }
        let rows = query.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let count = format!("SELECT COUNT(*) FROM {orders} WHERE {condition}");
        let mut query = sqlx::query_scalar::<_, i64>(&count);
        for bind in &binds {
            query = query.bind(bind);
        }
        let total = query.fetch_one(&self.pool).await?;
        Ok(OrderPage {
            orders: parse_views(rows)?,
            total,
            offset,
            limit,
        })
    }

    /// A partner's sales per Seoul day, `from` and `to` included.
    pub async fn sales(
        &self,
        partner_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailySales>> {
        let sql = format!(
            "SELECT day, currency, {SALES_COLUMNS} FROM {} \
             WHERE partner_id = $1 AND day >= $2 AND day <= $3 GROUP BY day, currency \
             ORDER BY day, currency",
            self.tables.sales
        );
        let rows = sqlx::query(&sql)
            .bind(partner_id)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let day: String = row.try_get(0)?;
                Ok(DailySales {
                    day: day
                        .parse()
                        .map_err(|e| crate::Error::Corrupt(format!("day {day}: {e}")))?,
                    currency: row.try_get(1)?,
                    sales: sales_at(row, 2)?,
                })
            })
            .collect()
    }

    /// A partner's settlement for a Seoul month (`YYYY-MM`), one per currency sold in.
    pub async fn settlements(
        &self,
        partner_id: &str,
        month: &str,
        rate: CommissionRate,
    ) -> Result<Vec<Settlement>> {
        let sql = format!(
            "SELECT currency, {SALES_COLUMNS} FROM {} WHERE partner_id = $1 \
             AND day >= $2 AND day <= $3 GROUP BY currency ORDER BY currency",
            self.tables.sales
        );
        let rows = sqlx::query(&sql)
            .bind(partner_id)
            .bind(format!("{month}-01"))
            .bind(format!("{month}-31"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Settlement::new(
                    partner_id.to_owned(),
                    month.to_owned(),
                    row.try_get(0)?,
                    sales_at(row, 1)?,
                    rate,
                ))
            })
            .collect()
    }

    pub async fn profile(&self, customer_id: &str) -> Result<Option<CustomerProfile>> {
        let sql = format!(
            "SELECT orders, spent, last_order_at_ms FROM {} WHERE customer_id = $1",
            self.tables.customers
        );
        let Some(row) = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let last_order_at_ms: Option<i64> = row.try_get(2)?;
        let sql = format!(
            "SELECT category, orders FROM {} WHERE customer_id = $1 AND orders > 0 \
             ORDER BY orders DESC, category LIMIT 5",
            self.tables.categories
        );
        let categories: Vec<(String, i64)> = sqlx::query_as(&sql)
            .bind(customer_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some(CustomerProfile {
            customer_id: customer_id.to_owned(),
            orders: row.try_get(0)?,
            spent: row.try_get(1)?,
            last_order_at: last_order_at_ms.and_then(DateTime::from_timestamp_millis),
            top_categories: categories
                .into_iter()
                .map(|(category, orders)| CategoryCount { category, orders })
                .collect(),
        }))
    }

    /// Every row of this generation by key, with the checkpoints, read in one snapshot.
    pub async fn contents(&self) -> Result<Contents> {
        let Tables {
            orders,
            sales,
            customers,
            categories,
            payments,
        } = &self.tables;
        let mut tx = begin_snapshot(&self.pool).await?;
        let mut contents =
            Contents::new(checkpoints::load(&mut *tx, OrderViews::NAME, self.generation).await?);
        for (table, sql) in [
            (
                "orders",
                format!(
                    "SELECT order_id, customer_id || '|' || partner_id || '|' || status || '|' || \
                     placed_at_ms || '|' || placed_day || '|' || version || '|' || view \
                     FROM {orders}"
                ),
            ),
            (
                "daily_sales",
                format!(
                    "SELECT partner_id || '/' || day || '/' || currency, \
                     orders || ',' || units || ',' || gross || ',' || cancellations || ',' || \
                     cancelled || ',' || refunds || ',' || net FROM {sales}"
                ),
            ),
            (
                "customers",
                format!(
                    "SELECT customer_id, orders || ',' || spent || ',' || \
                     COALESCE(CAST(last_order_at_ms AS TEXT), '') FROM {customers}"
                ),
            ),
            (
                "customer_categories",
                format!(
                    "SELECT customer_id || '/' || category, CAST(orders AS TEXT) \
                     FROM {categories}"
                ),
            ),
            (
                "payments",
                format!(
                    "SELECT payment_id, order_id || '|' || version || '|' || view FROM {payments}"
                ),
            ),
        ] {
            let rows: Vec<(String, String)> = sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
            for (key, value) in rows {
                contents.insert(table, &key, &value);
            }
        }
        tx.commit().await?;
        Ok(contents)
    }

    /// A digest of every row of this generation, in key order: two generations built from the
    /// same log have the same checksum.
    pub async fn checksum(&self) -> Result<String> {
        Ok(self.contents().await?.checksum())
    }
}
