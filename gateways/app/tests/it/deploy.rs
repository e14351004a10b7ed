//! The files a user runs to deploy: `docker-compose.yml` and the `Dockerfile`. Neither can be
//! run here (no container engine), so what can be checked without one is checked: the compose
//! file parses, every Eventmall service runs a real `eventmall` subcommand, and every variable
//! it sets is one the configuration loader accepts; the image builds this binary.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser;
use eventmall::cli::Cli;
use eventmall::config::Settings;
use serde_yaml::Value;

fn repository_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `eventmall` arguments a command line (a compose `command`, a Dockerfile `CMD`) runs.
fn parses_as_eventmall(arguments: &[String]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("eventmall".to_owned()).chain(arguments.iter().cloned()))
}

/// The variables the loader reads: `EVENTMALL__…`, and `KAFKA_BOOTSTRAP_SERVERS`.
fn settings_of(environment: &HashMap<String, String>) -> Result<Settings, String> {
    let vars: HashMap<String, String> = environment
        .iter()
        .filter(|(name, _)| name.starts_with("EVENTMALL__") || *name == "KAFKA_BOOTSTRAP_SERVERS")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Settings::from_vars(&vars).map_err(|e| e.to_string())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

#[test]
fn every_compose_service_runs_a_real_subcommand_with_settings_the_loader_accepts() {
    let compose: Value = serde_yaml::from_str(&repository_file("docker-compose.yml"))
        .expect("docker-compose.yml is valid YAML");
    let services = compose["services"]
        .as_mapping()
        .expect("docker-compose.yml has services");
    let names: Vec<String> = services.keys().map(text).collect();
    let mut ours = 0;
    let mut roles = std::collections::BTreeSet::new();
    for (name, service) in services {
        let name = text(name);
        for dependency in service["depends_on"].as_mapping().into_iter().flatten() {
            let dependency = text(dependency.0);
            assert!(
                names.contains(&dependency),
                "{name} depends on {dependency}, which is not a service"
            );
        }
        if service.get("image").is_some() {
            continue;
        }
        assert_eq!(service["build"], ".", "{name} builds the Dockerfile");
        ours += 1;
        let command: Vec<String> = service["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name} has no command"))
            .iter()
            .map(text)
            .collect();
        roles.insert(command[0].clone());
        let cli = parses_as_eventmall(&command)
            .unwrap_or_else(|e| panic!("{name}: {command:?} is not an eventmall command: {e}"));
        let environment: HashMap<String, String> = service["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name} has no environment"))
            .iter()
            .map(|(key, value)| (text(key), text(value)))
            .collect();
        let settings = settings_of(&environment)
            .unwrap_or_else(|e| panic!("{name}: the configuration loader refuses it: {e}"));
        assert!(
            settings.store_url().starts_with("postgres://"),
            "{name} runs against PostgreSQL: {}",
            settings.store_url()
        );
        let needs_kafka = !matches!(cli.command, eventmall::cli::Command::Migrate);
        assert!(
            !needs_kafka || settings.external_kafka().is_some(),
            "{name} needs the Kafka cluster"
        );
    }
    assert!(ours >= 6, "the compose file runs the roles: {names:?}");
    for role in ["migrate", "serve", "relay", "ingest", "project", "policy"] {
        assert!(roles.contains(role), "no service runs `{role}`: {roles:?}");
    }
}

#[test]
fn the_dockerfile_builds_this_binary_and_runs_it_with_settings_the_loader_accepts() {
    let dockerfile = repository_file("Dockerfile");
    let build = dockerfile
        .lines()
        .find(|line| line.contains("cargo build"))
        .expect("the Dockerfile builds with cargo");
    let words: Vec<&str> = build.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|word| *word == flag)
            .and_then(|at| words.get(at + 1))
            .copied()
    };
    assert_eq!(after("-p"), Some(env!("CARGO_PKG_NAME")), "{build}");
    assert_eq!(after("--bin"), Some("eventmall"), "{build}");
    assert!(
        dockerfile.contains("/target/release/eventmall "),
        "the image copies the binary it built"
    );

    let mut environment = HashMap::new();
    for line in dockerfile.lines().filter(|line| line.starts_with("ENV ")) {
        for pair in line["ENV ".len()..].split_whitespace() {
            let (name, value) = pair.split_once('=').expect("ENV name=value");
            environment.insert(name.to_owned(), value.to_owned());
        }
    }
    assert!(!environment.is_empty());
    settings_of(&environment).expect("the configuration loader accepts the image's variables");

    let cmd = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("CMD "))
        .expect("the Dockerfile has a CMD");
    let arguments: Vec<String> = serde_json::from_str(cmd).expect("CMD is an exec form");
    parses_as_eventmall(&arguments).expect("CMD is an eventmall command");
}

#[test]
fn a_variable_the_loader_does_not_know_is_refused() {
    // What the checks above rely on: a typo would not pass unnoticed.
    let typo = HashMap::from([(
        "EVENTMALL__STORE__URI".to_owned(),
        "postgres://x".to_owned(),
    )]);
    assert!(settings_of(&typo).is_err());
}

/// Every setting is documented in the README's configuration table as the variable that sets
/// it, and every variable the table names is one the loader accepts.
#[test]
fn the_readme_documents_every_setting() {
    let readme = repository_file("README.md");
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    let mut variables = Vec::new();
    for (section, value) in defaults.as_object().unwrap() {
        match value.as_object() {
            Some(keys) => variables.extend(
                keys.keys()
                    .map(|key| format!("EVENTMALL__{section}__{key}").to_uppercase()),
            ),
            None => variables.push(format!("EVENTMALL__{section}").to_uppercase()),
        }
    }
    let missing: Vec<&String> = variables
        .iter()
        .filter(|variable| !readme.contains(&format!("`{variable}`")))
        .collect();
    assert!(missing.is_empty(), "not in the README: {missing:?}");
    let documented: Vec<&str> = readme
        .split('`')
        .filter(|word| word.starts_with("EVENTMALL__") && word.len() > "EVENTMALL__".len())
        .filter(|word| word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    for variable in documented {
        let set = HashMap::from([(variable.to_owned(), "1".to_owned())]);
        // A value of the wrong type is fine here; an unknown key is not.
        if let Err(error) = settings_of(&set) {
            assert!(!error.contains("unknown field"), "{variable}: {error}");
        }
    }
}

#[test]
fn the_monitoring_profile_mounts_deploy_files_that_exist_and_prometheus_accepts_them() {
    let compose: Value = serde_yaml::from_str(&repository_file("docker-compose.yml")).unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let mut mounted = std::collections::BTreeMap::new();
    for name in ["prometheus", "grafana"] {
        let service = &services[name];
        let profiles: Vec<String> = service["profiles"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert_eq!(
            profiles,
            ["monitoring"],
            "{name} is in the monitoring profile"
        );
        for volume in service["volumes"].as_sequence().unwrap().iter().map(text) {
            let parts: Vec<&str> = volume.split(':').collect();
            let source = parts[0]
                .strip_prefix("./")
                .expect("a file of the repository");
            repository_file(source);
            mounted.insert(source.to_owned(), parts[1].to_owned());
        }
    }

    // Prometheus finds each role by its service name, on the port the roles serve metrics on.
    let api = &services["api"]["environment"];
    let port = text(&api["EVENTMALL__TELEMETRY__METRICS_ADDR"]);
    let port: u16 = port.rsplit(':').next().unwrap().parse().unwrap();
    let prometheus: Value =
        serde_yaml::from_str(&repository_file("deploy/prometheus.yml")).unwrap();
    let mut scraped = std::collections::BTreeSet::new();
    for job in prometheus["scrape_configs"].as_sequence().unwrap() {
        for discovery in job["dns_sd_configs"].as_sequence().unwrap() {
            assert_eq!(discovery["port"].as_u64(), Some(u64::from(port)));
            for name in discovery["names"].as_sequence().unwrap().iter().map(text) {
                assert!(
                    services.contains_key(name.as_str()),
                    "{name} is not a service"
                );
                scraped.insert(name);
            }
        }
    }
    for (name, service) in services {
        if service.get("build").is_some() && text(&service["command"][0]) != "migrate" {
            assert!(
                scraped.contains(&text(name)),
                "Prometheus does not scrape {name:?}"
            );
        }
    }
    let promtool = std::process::Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus.yml"))
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    assert!(
        promtool.status.success(),
        "{}",
        String::from_utf8_lossy(&promtool.stderr)
    );

    // Grafana reads the dashboard where the provider says, through the provisioned source.
    let provider: Value =
        serde_yaml::from_str(&repository_file("deploy/grafana/dashboards.yml")).unwrap();
    let folder = text(&provider["providers"][0]["options"]["path"]);
    assert!(mounted["deploy/grafana/eventmall.json"].starts_with(&folder));
    let source: Value =
        serde_yaml::from_str(&repository_file("deploy/grafana/datasource.yml")).unwrap();
    let uid = text(&source["datasources"][0]["uid"]);
    let dashboard: serde_json::Value =
        serde_json::from_str(&repository_file("deploy/grafana/eventmall.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"],
            uid.as_str(),
            "{}",
            panel["title"]
        );
    }
}
