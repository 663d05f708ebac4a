//! BigQuery through `gcp-bigquery-client`, authenticated with tokens from
//! `google-cloud-auth` (one auth stack: its own ADC has no Workload Identity Federation).
//!
//! Queries come back page by page to a callback, so a caller can write each page out and
//! memory does not grow with the table. Cells keep BigQuery's JSON form (strings, or `None`
//! for NULL): the caller types them with the schema, so NUMERIC keeps every digit and
//! TIMESTAMP is read as integer microseconds (`formatOptions.useInt64Timestamp`).

use std::sync::Arc;
use std::time::Duration;

use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::data_format_options::DataFormatOptions;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::field_type::FieldType;
use gcp_bigquery_client::model::get_query_results_response::GetQueryResultsResponse;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::model::table_data_insert_all_request::TableDataInsertAllRequest;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_row::TableRow;
use gcp_bigquery_client::model::table_schema::TableSchema;
use serde_json::{json, Map, Value};

use crate::client::{chain, Gcp};
use crate::error::{permission_hint, GcpError, Result};
use crate::DryRun;

/// Rows per `insertAll` call (BigQuery recommends ≤ 500).
const INSERT_BATCH: usize = 500;

/// One column of a table or query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BqColumn {
    /// Column name.
    pub name: String,
    /// BigQuery type as the API names it (`STRING`, `INTEGER`, `FLOAT`, `NUMERIC`, `BOOLEAN`,
    /// `TIMESTAMP`, `DATE`, ...).
    pub field_type: String,
    /// `NULLABLE` (default), `REQUIRED` or `REPEATED`.
    pub mode: String,
    /// Column description (tables this template creates describe every column).
    pub description: String,
}

impl BqColumn {
    /// A nullable column.
    pub fn new(name: &str, field_type: &str, description: &str) -> BqColumn {
        BqColumn {
            name: name.into(),
            field_type: field_type.into(),
            mode: "NULLABLE".into(),
            description: description.into(),
        }
    }
}

/// A page of query rows: one `Option<String>` per column, `None` for NULL.
pub type BqRows = Vec<Vec<Option<String>>>;

/// `bq://project.dataset.table` or `project.dataset.table`, split.
pub fn parse_table(reference: &str) -> Result<(String, String, String)> {
    let body = reference.strip_prefix("bq://").unwrap_or(reference);
    let parts: Vec<&str> = body.split('.').collect();
    let valid = parts.len() == 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[1..]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !valid {
        return Err(GcpError::Invalid {
            field: "BigQuery table",
            value: reference.to_string(),
            expected: "bq://project.dataset.table",
        });
    }
    Ok((parts[0].into(), parts[1].into(), parts[2].into()))
}

/// Tokens from `google-cloud-auth` for `gcp-bigquery-client`.
#[derive(Clone)]
struct Tokens(google_cloud_auth::credentials::Credentials);

#[async_trait::async_trait]
impl gcp_bigquery_client::auth::Authenticator for Tokens {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        let headers = match self.0.headers(http::Extensions::new()).await {
            Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => data,
            Ok(_) => http::HeaderMap::new(),
            Err(_) => return Err(BQError::NoToken),
        };
        // Anonymous credentials (emulators) have no header: an empty token.
        Ok(headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string())
    }
}

impl Gcp {
    fn bigquery(&self) -> Result<&gcp_bigquery_client::Client> {
        if let Some(c) = self.clients.bigquery.get() {
            return Ok(c);
        }
        let http = reqwest12::Client::builder()
            .timeout(self.config.attempt_timeout)
            .build()
            .map_err(|e| GcpError::Client {
                client: "BigQuery",
                detail: e.to_string(),
            })?;
        let client = self
            .block(
                gcp_bigquery_client::client_builder::ClientBuilder::new()
                    .with_v2_base_url(
                        self.config
                            .bigquery_endpoint
                            .trim_end_matches('/')
                            .to_string(),
                    )
                    .with_client(http)
                    .build_from_authenticator(Arc::new(Tokens(self.credentials.clone()))),
            )
            .map_err(|e| GcpError::Client {
                client: "BigQuery",
                detail: e.to_string(),
            })?;
        Ok(self.clients.bigquery.get_or_init(|| client))
    }

    /// Run `sql` (standard SQL) and hand the result to `on_page` page by page (`page_size`
    /// rows at most); returns the number of rows.
    pub fn query(
        &self,
        sql: &str,
        page_size: u32,
        on_page: &mut dyn FnMut(&[BqColumn], BqRows) -> Result<()>,
    ) -> Result<u64> {
        let project = self.config.project.clone();
        let client = self.bigquery()?;
        let mut request = QueryRequest::new(sql);
        request.max_results = Some(i32::try_from(page_size).unwrap_or(i32::MAX));
        request.timeout_ms = Some(60_000);
        request.format_options = Some(DataFormatOptions {
            use_int64_timestamp: Some(true),
        });
        let first = self.bq_retry("run query", &project, || {
            client.job().query(&project, request.clone())
        })?;
        query_errors(&project, first.errors.as_deref())?;
        let mut schema = first.schema.as_ref().map(columns).unwrap_or_default();
        let job = first.job_reference.clone();
        let mut complete = first.job_complete.unwrap_or(false);
        let mut token = first.page_token.clone();
        let mut total = 0u64;
        if complete {
            let rows = cells(first.rows.unwrap_or_default(), schema.len());
            total += rows.len() as u64;
            on_page(&schema, rows)?;
        }
        let Some(job) = job else {
            return Ok(total);
        };
        let job_id = job.job_id.clone().unwrap_or_default();
        let location = job.location.clone();
        while !complete || token.is_some() {
            // By hand: the client sends its parameters through serde_urlencoded, which
            // refuses the nested `formatOptions` ("unsupported value"), so every page after
            // the first failed; the REST name is `formatOptions.useInt64Timestamp`.
            let mut params = vec![
                ("formatOptions.useInt64Timestamp", "true".to_string()),
                ("maxResults", page_size.min(i32::MAX as u32).to_string()),
                ("timeoutMs", "60000".to_string()),
            ];
            if let Some(token) = &token {
                params.push(("pageToken", token.clone()));
            }
            if let Some(location) = &location {
                params.push(("location", location.clone()));
            }
            let url = format!(
                "{}/projects/{project}/queries/{job_id}",
                self.config.bigquery_endpoint.trim_end_matches('/')
            );
            let page: GetQueryResultsResponse =
                self.get_json("read query results", &job_id, &url, &params)?;
            query_errors(&job_id, page.errors.as_deref())?;
            if !page.job_complete.unwrap_or(false) {
                complete = false;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            if !complete {
                complete = true;
                schema = page.schema.as_ref().map(columns).unwrap_or_default();
            }
            let rows = cells(page.rows.unwrap_or_default(), schema.len());
            total += rows.len() as u64;
            on_page(&schema, rows)?;
            token = page.page_token.filter(|t| !t.is_empty());
        }
        Ok(total)
    }

    /// Create the dataset when missing.
    pub fn ensure_dataset(&self, dataset: &str, location: &str) -> Result<()> {
        let project = self.config.project.clone();
        let mut d = Dataset::new(&project, dataset);
        d.location = Some(location.to_string());
        if self.config.dry_run {
            DryRun::new(
                "bigquery.datasets.insert",
                format!("projects/{project}"),
                &d,
            )
            .print();
            return Ok(());
        }
        let client = self.bigquery()?;
        match self.block(client.dataset().get(&project, dataset)) {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(bq_error("get dataset", dataset, e)),
        }
        self.bq_retry("create dataset", dataset, || {
            client.dataset().create(d.clone())
        })
        .map(|_| ())
    }

    /// Create `dataset.table` with `schema` when missing; an existing table must have every
    /// declared column with the declared type (extra columns are allowed). Returns whether it
    /// was created.
    pub fn ensure_table(&self, dataset: &str, table: &str, schema: &[BqColumn]) -> Result<bool> {
        let project = self.config.project.clone();
        let fields: Vec<TableFieldSchema> = schema.iter().map(field).collect();
        let t = Table::new(&project, dataset, table, TableSchema::new(fields));
        let resource = format!("{project}.{dataset}.{table}");
        if self.config.dry_run {
            DryRun::new("bigquery.tables.insert", &resource, &t).print();
            return Ok(true);
        }
        let client = self.bigquery()?;
        match self.block(client.table().get(&project, dataset, table, None)) {
            Ok(existing) => {
                let have = existing
                    .schema
                    .fields
                    .as_ref()
                    .map(|f| f.iter().map(column).collect::<Vec<_>>())
                    .unwrap_or_default();
                check_schema(&resource, schema, &have)?;
                Ok(false)
            }
            Err(e) if status_of(&e) == Some(404) => {
                self.bq_retry("create table", &resource, || {
                    client.table().create(t.clone())
                })?;
                Ok(true)
            }
            Err(e) => Err(bq_error("get table", &resource, e)),
        }
    }

    /// Append rows (`tabledata.insertAll`, 500 per call). `insert_ids` (one per row) let
    /// BigQuery drop the duplicates a retried call would otherwise add.
    pub fn insert_rows(
        &self,
        dataset: &str,
        table: &str,
        rows: &[Map<String, Value>],
        insert_ids: &[String],
    ) -> Result<()> {
        let project = self.config.project.clone();
        let resource = format!("{project}.{dataset}.{table}");
        for (start, chunk) in rows
            .chunks(INSERT_BATCH)
            .enumerate()
            .map(|(i, c)| (i * INSERT_BATCH, c))
        {
            let mut request = TableDataInsertAllRequest::new();
            for (i, row) in chunk.iter().enumerate() {
                let id = insert_ids.get(start + i).cloned();
                request
                    .add_row(id, row)
                    .map_err(|e| bq_error("encode row", &resource, e))?;
            }
            if self.config.dry_run {
                DryRun::new("bigquery.tabledata.insertAll", &resource, &request).print();
                continue;
            }
            let client = self.bigquery()?;
            let response = self.bq_retry("insert rows", &resource, || {
                client
                    .tabledata()
                    .insert_all(&project, dataset, table, request.clone())
            })?;
            if let Some(errors) = response.insert_errors.filter(|e| !e.is_empty()) {
                let first = serde_json::to_string(&errors[0]).unwrap_or_default();
                return Err(GcpError::Failed {
                    action: "insert rows",
                    resource,
                    message: format!("{} row(s) refused; first: {first}", errors.len()),
                });
            }
        }
        Ok(())
    }

    /// One BigQuery call with the handle's retry budget (the client has none of its own).
    fn bq_retry<T, F, Fut>(&self, action: &'static str, resource: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, BQError>>,
    {
        let mut delay = self.config.initial_backoff;
        let mut attempt = 1;
        loop {
            match self.block(call()) {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) && attempt < self.config.max_attempts => {
                    tracing::debug!(action, resource, attempt, "retrying: {e}");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(30));
                    attempt += 1;
                }
                Err(e) if retryable(&e) => {
                    let mut err = bq_error(action, resource, e);
                    if let GcpError::Api { message, .. }
                    | GcpError::Transport {
                        detail: message, ..
                    } = &mut err
                    {
                        message.push_str(&format!(" (gave up after {attempt} attempts)"));
                    }
                    return Err(err);
                }
                Err(e) => return Err(bq_error(action, resource, e)),
            }
        }
    }
}

/// Errors reported inside a 200 reply (the emulator does this for bad SQL; BigQuery for a job
/// that failed after it started).
fn query_errors(
    resource: &str,
    errors: Option<&[gcp_bigquery_client::model::error_proto::ErrorProto]>,
) -> Result<()> {
    match errors.and_then(|e| e.first()) {
        None => Ok(()),
        Some(first) => Err(GcpError::Api {
            action: "run query",
            resource: resource.to_string(),
            status: 400,
            reason: first.reason.clone(),
            message: first
                .message
                .clone()
                .unwrap_or_else(|| "query failed".into()),
            hint: None,
        }),
    }
}

fn retryable(e: &BQError) -> bool {
    match e {
        BQError::RequestError(r) => r.is_timeout() || r.is_connect(),
        _ => matches!(status_of(e), Some(429 | 500 | 502 | 503 | 504)),
    }
}

fn status_of(e: &BQError) -> Option<u16> {
    match e {
        BQError::ResponseError { error } => u16::try_from(error.error.code).ok(),
        BQError::RequestError(r) => r.status().map(|s| s.as_u16()),
        _ => None,
    }
}

fn bq_error(action: &'static str, resource: &str, e: BQError) -> GcpError {
    match e {
        BQError::ResponseError { error } => {
            let nested = error.error;
            let status = u16::try_from(nested.code).unwrap_or(500);
            let reason = nested
                .errors
                .first()
                .and_then(|m| m.get("reason").cloned())
                .or_else(|| (!nested.status.is_empty()).then(|| nested.status.clone()));
            let hint = (status == 403)
                .then(|| permission_hint(None, &nested.message))
                .flatten();
            GcpError::Api {
                action,
                resource: resource.to_string(),
                status,
                reason,
                message: nested.message,
                hint,
            }
        }
        other => GcpError::Transport {
            action,
            resource: resource.to_string(),
            detail: chain(&other),
        },
    }
}

fn columns(schema: &TableSchema) -> Vec<BqColumn> {
    schema
        .fields
        .as_ref()
        .map(|f| f.iter().map(column).collect())
        .unwrap_or_default()
}

fn column(f: &TableFieldSchema) -> BqColumn {
    let field_type = serde_json::to_value(&f.r#type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    BqColumn {
        name: f.name.clone(),
        field_type: canonical_type(&field_type).to_string(),
        mode: f.mode.clone().unwrap_or_else(|| "NULLABLE".into()),
        description: f.description.clone().unwrap_or_default(),
    }
}

fn field(c: &BqColumn) -> TableFieldSchema {
    let ty: FieldType =
        serde_json::from_value(json!(canonical_type(&c.field_type))).unwrap_or(FieldType::String);
    let mut f = TableFieldSchema::new(&c.name, ty);
    f.mode = Some(c.mode.clone());
    if !c.description.is_empty() {
        f.description = Some(c.description.clone());
    }
    f
}

/// BigQuery's legacy and standard names for one type, as one name.
fn canonical_type(t: &str) -> &str {
    match t {
        "INT64" => "INTEGER",
        "FLOAT64" => "FLOAT",
        "BOOL" => "BOOLEAN",
        "STRUCT" => "RECORD",
        other => other,
    }
}

fn check_schema(resource: &str, want: &[BqColumn], have: &[BqColumn]) -> Result<()> {
    let mut problems = Vec::new();
    for w in want {
        match have.iter().find(|h| h.name == w.name) {
            None => problems.push(format!("column `{}` is missing", w.name)),
            Some(h) if canonical_type(&h.field_type) != canonical_type(&w.field_type) => problems
                .push(format!(
                    "column `{}` is {}, expected {}",
                    w.name, h.field_type, w.field_type
                )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GcpError::Failed {
            action: "check table schema",
            resource: resource.to_string(),
            message: problems.join("; "),
        })
    }
}

fn cells(rows: Vec<TableRow>, width: usize) -> BqRows {
    rows.into_iter()
        .map(|r| {
            let mut out: Vec<Option<String>> = r
                .columns
                .unwrap_or_default()
                .into_iter()
                .map(|c| match c.value {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s),
                    Some(other) => Some(other.to_string()),
                })
                .collect();
            out.resize(width, None);
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_references_are_checked() {
        assert_eq!(
            parse_table("bq://my-proj.mlops.wa_churn").unwrap(),
            ("my-proj".into(), "mlops".into(), "wa_churn".into())
        );
        for bad in ["bq://p.d", "bq://p.d.t.x", "bq://p..t", "bq://p.d-x.t"] {
            let e = parse_table(bad).unwrap_err().to_string();
            assert!(
                e.contains(bad) && e.contains("bq://project.dataset.table"),
                "{e}"
            );
        }
    }

    #[test]
    fn schema_check_names_every_problem() {
        let want = [
            BqColumn::new("id", "STRING", ""),
            BqColumn::new("p", "FLOAT64", ""),
            BqColumn::new("t", "TIMESTAMP", ""),
        ];
        let have = [
            BqColumn::new("id", "STRING", ""),
            BqColumn::new("p", "STRING", ""),
        ];
        let e = check_schema("p.d.t", &want, &have).unwrap_err().to_string();
        assert!(e.contains("column `p` is STRING, expected FLOAT64"), "{e}");
        assert!(e.contains("column `t` is missing"), "{e}");
        let same = [
            BqColumn::new("id", "STRING", ""),
            BqColumn::new("p", "FLOAT", ""),
            BqColumn::new("t", "TIMESTAMP", ""),
            BqColumn::new("extra", "STRING", ""),
        ];
        check_schema("p.d.t", &want, &same).unwrap();
    }

    #[test]
    fn nulls_and_short_rows_become_none() {
        let rows: Vec<TableRow> = serde_json::from_value(json!([
            {"f": [{"v": "a"}, {"v": null}, {"v": "1.5"}]},
            {"f": [{"v": "b"}]}
        ]))
        .unwrap();
        let out = cells(rows, 3);
        assert_eq!(out[0], vec![Some("a".into()), None, Some("1.5".into())]);
        assert_eq!(out[1], vec![Some("b".into()), None, None]);
    }
}
