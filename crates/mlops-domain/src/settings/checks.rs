//! Syntax checks for the Google Cloud names and URLs in [`super::Settings`]. Each returns
//! `Err(expectation)`, the text after "expected" in the problem that names the variable and
//! its value; the rules are Google's published naming rules, kept to what a typo breaks.

/// A Google Cloud project id: 6-30 characters of a-z, 0-9 and '-', starting with a letter.
pub(super) fn project_id(p: &str) -> Result<(), &'static str> {
    let ok = (6..=30).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(())
        .ok_or("6-30 characters of a-z, 0-9 and '-', starting with a letter")
}

/// An Artifact Registry repository id.
pub(super) fn repository(r: &str) -> Result<(), &'static str> {
    let ok = (1..=63).contains(&r.len())
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(()).ok_or(
        "1-63 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit",
    )
}

/// A Docker image name inside a repository (`churn-mlops`, `team/churn`).
pub(super) fn image_name(name: &str) -> Result<(), &'static str> {
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    (name.len() <= 255 && name.split('/').all(part_ok))
        .then_some(())
        .ok_or(
            "a-z, 0-9, '.', '_', '-' and '/', each '/'-separated part starting and ending with a letter or digit",
        )
}

/// A Docker tag (the git sha the image was pushed with).
pub(super) fn image_tag(tag: &str) -> Result<(), &'static str> {
    let ok = (1..=128).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    ok.then_some(()).ok_or(
        "a Docker tag such as a git sha: 1-128 characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.' or '-'",
    )
}

/// A service account's e-mail (`name@project.iam.gserviceaccount.com`), or any e-mail.
pub(super) fn email(address: &str) -> Result<(), &'static str> {
    const EXPECTED: &str =
        "an e-mail address such as vertex-pipelines@my-project.iam.gserviceaccount.com";
    let (local, domain) = address.split_once('@').ok_or(EXPECTED)?;
    let local_ok = (1..=64).contains(&local.len())
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.');
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    (local_ok && domain_ok).then_some(()).ok_or(EXPECTED)
}

/// A BigQuery dataset id: letters, digits and underscores.
pub(super) fn dataset_id(d: &str) -> Result<(), &'static str> {
    let ok =
        (1..=1024).contains(&d.len()) && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(())
        .ok_or("a BigQuery dataset id: 1-1024 letters, digits and '_'")
}

/// A BigQuery table id (the ASCII subset of BigQuery's rules that is safe in a `bq://` URI).
pub(super) fn table_id(t: &str) -> Result<(), &'static str> {
    let ok = (1..=1024).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some(())
        .ok_or("a BigQuery table id: 1-1024 letters, digits, '_' and '-'")
}

/// A BigQuery location: a multi-region (`US`, `EU`) or a region (`australia-southeast1`).
pub(super) fn bq_location(l: &str) -> Result<(), &'static str> {
    let ok = l.starts_with(|c: char| c.is_ascii_alphabetic())
        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(())
        .ok_or("a BigQuery location such as US, EU or australia-southeast1")
}

/// An emulator host as the gcloud tools spell it (`127.0.0.1:4443` or `http://127.0.0.1:4443`),
/// normalised to a URL without a trailing slash. A path is refused: the clients append the
/// API's own path (`/storage/v1/…`, `/bigquery/v2/…`) to the host.
pub(super) fn emulator_host(value: &str) -> Result<String, &'static str> {
    const EXPECTED: &str =
        "host:port or an http(s):// URL with a host and no path (e.g. http://127.0.0.1:4443)";
    let url = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = endpoint_url(&url).map_err(|_| EXPECTED)?;
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains('/') {
        return Err(EXPECTED);
    }
    Ok(url)
}

/// An API endpoint override: `http://` or `https://`, a host, an optional port and path;
/// returned without a trailing slash so that callers append `/v1/…` safely.
pub(super) fn endpoint_url(value: &str) -> Result<String, &'static str> {
    const EXPECTED: &str = "an http:// or https:// URL with a host (e.g. http://127.0.0.1:8080)";
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or(EXPECTED)?;
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(EXPECTED);
    }
    let authority = rest.split('/').next().unwrap_or_default();
    // `[::1]:8080` keeps its colons inside the brackets.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or(EXPECTED)?;
            if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                return Err(EXPECTED);
            }
            (addr, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok || authority.contains('@') {
        return Err(EXPECTED);
    }
    Ok(value.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_host() {
        assert_eq!(
            endpoint_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            endpoint_url("https://fake.test/base").unwrap(),
            "https://fake.test/base"
        );
        assert_eq!(
            endpoint_url("http://[::1]:9000").unwrap(),
            "http://[::1]:9000"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://host",
            "http://",
            "http:///path",
            "http://host:0",
            "http://host:99999",
            "http://host:port",
            "http://user@host",
            "http://host/a b",
            "http://host/?q=1",
            "http://[]:80",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn emulator_hosts_take_host_port_and_no_path() {
        assert_eq!(
            emulator_host("127.0.0.1:4443").unwrap(),
            "http://127.0.0.1:4443"
        );
        assert_eq!(
            emulator_host("http://localhost:9050/").unwrap(),
            "http://localhost:9050"
        );
        assert_eq!(
            emulator_host("https://gcs.test").unwrap(),
            "https://gcs.test"
        );
        for bad in [
            "localhost:9050/bigquery/v2",
            "ftp://x:1",
            ":4443",
            "host:abc",
        ] {
            assert!(emulator_host(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn names_follow_google_rules() {
        assert!(repository("mlops").is_ok() && repository("ml-ops-2").is_ok());
        for bad in ["", "Mlops", "2mlops", "mlops-", "ml_ops", &"a".repeat(64)] {
            assert!(repository(bad).is_err(), "{bad} was accepted");
        }
        assert!(image_name("churn-mlops").is_ok() && image_name("team/churn.v2").is_ok());
        for bad in ["", "Churn", "-churn", "churn/", "a//b", "churn:1"] {
            assert!(image_name(bad).is_err(), "{bad} was accepted");
        }
        assert!(image_tag("3f2a9c1d0b7e").is_ok() && image_tag("v1.2_rc-1").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(image_tag(bad).is_err(), "{bad} was accepted");
        }
        assert!(email("vertex-pipelines@p-1.iam.gserviceaccount.com").is_ok());
        for bad in [
            "",
            "no-at",
            "@d.com",
            "a@",
            "a@localhost",
            "a@b@c.com",
            "a b@c.com",
            "a@-b.com",
        ] {
            assert!(email(bad).is_err(), "{bad} was accepted");
        }
        assert!(dataset_id("mlops_1").is_ok());
        for bad in ["", "ml-ops", "ml.ops"] {
            assert!(dataset_id(bad).is_err(), "{bad} was accepted");
        }
        assert!(table_id("wa_churn").is_ok() && table_id("wa-churn-2").is_ok());
        for bad in ["", "wa.churn", "wa churn", "`t`"] {
            assert!(table_id(bad).is_err(), "{bad} was accepted");
        }
        assert!(bq_location("US").is_ok() && bq_location("australia-southeast1").is_ok());
        for bad in ["", "1us", "us central"] {
            assert!(bq_location(bad).is_err(), "{bad} was accepted");
        }
        assert!(project_id("my-project-1").is_ok());
        assert!(project_id("My-Project").is_err());
    }
}
