//! Hand-made JSON calls (the few the official clients do not offer over REST), with the same
//! credentials, retry budget and error reporting as the clients.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{chain, Gcp};
use crate::error::{permission_hint, GcpError, Result};

impl Gcp {
    /// `GET url?query` → JSON.
    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        action: &'static str,
        resource: &str,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let value = self.call_json(action, resource, reqwest::Method::GET, url, query, None)?;
        serde_json::from_value(value).map_err(|e| GcpError::Transport {
            action,
            resource: resource.to_string(),
            detail: format!("the reply is not what the API returns: {e}"),
        })
    }

    /// One JSON call with retries on 429, 503 and timeouts.
    pub(crate) fn call_json(
        &self,
        action: &'static str,
        resource: &str,
        method: reqwest::Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        self.block(async {
            let mut delay = self.config.initial_backoff;
            let mut attempt = 1;
            loop {
                let outcome = self
                    .attempt_json(action, resource, method.clone(), url, query, body)
                    .await;
                match outcome {
                    Err(Attempt::Retry(last)) if attempt < self.config.max_attempts => {
                        tracing::debug!(action, resource, attempt, "retrying: {last}");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                        attempt += 1;
                    }
                    Err(Attempt::Retry(last)) => {
                        return Err(match last {
                            GcpError::Transport { detail, .. } => GcpError::Transport {
                                action,
                                resource: resource.to_string(),
                                detail: format!("gave up after {attempt} attempts: {detail}"),
                            },
                            GcpError::Api {
                                status,
                                reason,
                                message,
                                hint,
                                ..
                            } => GcpError::Api {
                                action,
                                resource: resource.to_string(),
                                status,
                                reason,
                                message: format!("{message} (gave up after {attempt} attempts)"),
                                hint,
                            },
                            other => other,
                        })
                    }
                    Err(Attempt::Final(e)) => return Err(e),
                    Ok(v) => return Ok(v),
                }
            }
        })
    }

    async fn attempt_json(
        &self,
        action: &'static str,
        resource: &str,
        method: reqwest::Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Attempt> {
        let headers = self.auth_headers().await.map_err(Attempt::Final)?;
        let mut request = self.http.request(method, url).headers(headers).query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |detail: String| GcpError::Transport {
            action,
            resource: resource.to_string(),
            detail,
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(Attempt::Retry(transport(format!(
                    "no answer within {:?}",
                    self.config.attempt_timeout
                ))))
            }
            Err(e) => return Err(Attempt::Final(transport(chain(&e)))),
        };
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Attempt::Retry(transport(chain(&e))))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                Attempt::Final(transport(format!(
                    "the reply is not JSON ({e}): {:?}",
                    text.chars().take(120).collect::<String>()
                )))
            });
        }
        let error = google_error(action, resource, status, &text);
        if status == 429 || status == 503 || status == 504 {
            Err(Attempt::Retry(error))
        } else {
            Err(Attempt::Final(error))
        }
    }
}

enum Attempt {
    Retry(GcpError),
    Final(GcpError),
}

/// Google's JSON error body (`{"error": {"code", "message", "status", "details"}}`) as a
/// [`GcpError::Api`]; any other body is quoted.
pub(crate) fn google_error(
    action: &'static str,
    resource: &str,
    status: u16,
    text: &str,
) -> GcpError {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let message = error
        .and_then(|e| e["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "unreadable error reply: {:?}",
                text.chars().take(200).collect::<String>()
            )
        });
    let details = error
        .and_then(|e| e["details"].as_array())
        .cloned()
        .unwrap_or_default();
    let info = details.iter().find(|d| {
        d["@type"]
            .as_str()
            .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
    });
    let reason = info
        .and_then(|i| i["reason"].as_str())
        .or_else(|| error.and_then(|e| e["errors"][0]["reason"].as_str()))
        .or_else(|| error.and_then(|e| e["status"].as_str()))
        .map(str::to_string);
    let permission = info.and_then(|i| i["metadata"]["permission"].as_str());
    let hint = (status == 403)
        .then(|| permission_hint(permission, &message))
        .flatten();
    GcpError::Api {
        action,
        resource: resource.to_string(),
        status,
        reason,
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies_keep_reason_message_and_role() {
        let body = r#"{"error":{"code":403,"message":"Permission 'storage.objects.list' denied on resource (or it may not exist).","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","domain":"storage.googleapis.com","metadata":{"permission":"storage.objects.list"}}]}}"#;
        let e = google_error("list", "gs://b/x", 403, body).to_string();
        assert!(e.contains("HTTP 403 IAM_PERMISSION_DENIED"), "{e}");
        assert!(
            e.contains("Permission 'storage.objects.list' denied"),
            "{e}"
        );
        assert!(e.contains("grant roles/storage.objectViewer"), "{e}");
    }

    #[test]
    fn non_json_error_bodies_are_quoted() {
        let e = google_error("list", "gs://b/x", 502, "<html>bad gateway</html>").to_string();
        assert!(e.contains("HTTP 502"), "{e}");
        assert!(
            e.contains("unreadable error reply: \"<html>bad gateway</html>\""),
            "{e}"
        );
    }
}
