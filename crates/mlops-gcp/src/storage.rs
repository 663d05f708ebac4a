//! Cloud Storage: read, write, list and test objects; whole folders for model bundles.
//!
//! Reads and writes go through Google's `google-cloud-storage` client (JSON API): uploads
//! stream from the file (resumable above 8 MiB, so a broken connection resumes where it
//! stopped instead of starting over), and CRC32C is checked on both directions. Listing is a
//! JSON-API call made here with the same credentials and retry budget, because that client
//! offers listing only over gRPC.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::client::{api_error, Gcp};
use crate::error::{GcpError, Result};
use crate::DryRun;

/// Uploads above this size are resumable (the client's default is 16 MiB).
const RESUMABLE_THRESHOLD: usize = 8 * 1024 * 1024;

/// One object, as listed or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object name in its bucket.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

fn bucket_resource(bucket: &str) -> String {
    format!("projects/_/buckets/{bucket}")
}

fn gs(bucket: &str, object: &str) -> String {
    format!("gs://{bucket}/{object}")
}

impl Gcp {
    fn storage(&self) -> Result<&google_cloud_storage::client::Storage> {
        if let Some(client) = self.clients.storage.get() {
            return Ok(client);
        }
        let client = self
            .block(
                google_cloud_storage::client::Storage::builder()
                    .with_endpoint(&self.config.storage_endpoint)
                    .with_credentials(self.credentials.clone())
                    .with_retry_policy(self.retry_policy())
                    .with_backoff_policy(self.backoff_policy())
                    .with_resumable_upload_threshold(RESUMABLE_THRESHOLD)
                    .build(),
            )
            .map_err(|e| GcpError::Client {
                client: "Cloud Storage",
                detail: e.to_string(),
            })?;
        Ok(self.clients.storage.get_or_init(|| client))
    }

    /// Upload a local file to `gs://bucket/object`, streaming it; returns the stored object.
    pub fn upload_file(&self, path: &Path, bucket: &str, object: &str) -> Result<ObjectInfo> {
        let size = std::fs::metadata(path)
            .map_err(|source| GcpError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if self.config.dry_run {
            DryRun::new(
                "storage.objects.insert",
                gs(bucket, object),
                &json!({"name": object, "size": size.to_string(), "source": path.display().to_string()}),
            )
            .print();
            return Ok(ObjectInfo {
                name: object.to_string(),
                size,
            });
        }
        let storage = self.storage()?;
        let written = self.block(async {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|source| GcpError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })?;
            storage
                .write_object(bucket_resource(bucket), object, file)
                // The object name is fixed, so a retried upload replaces the same object.
                .with_idempotency(true)
                // Buffered: one two-part multipart request below the resumable threshold
                // (fake-gcs-server mangles the client's three-part form, which carries the
                // CRC32C in a trailing part), resumable 8 MiB chunks above it.
                .send_buffered()
                .await
                .map_err(|e| api_error("upload", gs(bucket, object), e))
        })?;
        Ok(ObjectInfo {
            name: written.name,
            size: u64::try_from(written.size).unwrap_or(0),
        })
    }

    /// Write bytes to `gs://bucket/object`.
    pub fn upload_bytes(&self, bytes: Vec<u8>, bucket: &str, object: &str) -> Result<ObjectInfo> {
        let size = bytes.len() as u64;
        if self.config.dry_run {
            DryRun::new(
                "storage.objects.insert",
                gs(bucket, object),
                &json!({"name": object, "size": size.to_string()}),
            )
            .print();
            return Ok(ObjectInfo {
                name: object.to_string(),
                size,
            });
        }
        let storage = self.storage()?;
        let written = self.block(async {
            storage
                .write_object(bucket_resource(bucket), object, bytes::Bytes::from(bytes))
                .with_idempotency(true)
                .send_buffered()
                .await
                .map_err(|e| api_error("upload", gs(bucket, object), e))
        })?;
        Ok(ObjectInfo {
            name: written.name,
            size: u64::try_from(written.size).unwrap_or(size),
        })
    }

    /// Read a whole object into memory (configs, metadata; use [`Gcp::download_file`] for
    /// tables).
    pub fn read_bytes(&self, bucket: &str, object: &str) -> Result<Vec<u8>> {
        let storage = self.storage()?;
        self.block(async {
            let mut reader = storage
                .read_object(bucket_resource(bucket), object)
                .send()
                .await
                .map_err(|e| api_error("read", gs(bucket, object), e))?;
            let mut out = Vec::new();
            while let Some(chunk) = reader.next().await {
                let chunk = chunk.map_err(|e| api_error("read", gs(bucket, object), e))?;
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }

    /// Download `gs://bucket/object` to `path` (atomically: a temporary file renamed into
    /// place once the checksum matched); returns the bytes written.
    pub fn download_file(&self, bucket: &str, object: &str, path: &Path) -> Result<u64> {
        use tokio::io::AsyncWriteExt;
        let storage = self.storage()?;
        let io = |action, source| GcpError::Io {
            action,
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        }
        let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or_else(|| Path::new(".")))
            .map_err(|e| io("create", e))?;
        let written = self.block(async {
            let mut reader = storage
                .read_object(bucket_resource(bucket), object)
                .send()
                .await
                .map_err(|e| api_error("download", gs(bucket, object), e))?;
            let std_file = tmp.reopen().map_err(|e| io("write", e))?;
            let mut file = tokio::fs::File::from_std(std_file);
            let mut written = 0u64;
            while let Some(chunk) = reader.next().await {
                let chunk = chunk.map_err(|e| api_error("download", gs(bucket, object), e))?;
                file.write_all(&chunk).await.map_err(|e| io("write", e))?;
                written += chunk.len() as u64;
            }
            file.flush().await.map_err(|e| io("write", e))?;
            Ok::<_, GcpError>(written)
        })?;
        tmp.persist(path).map_err(|e| io("write", e.error))?;
        Ok(written)
    }

    /// Whether `gs://bucket/object` exists.
    pub fn exists(&self, bucket: &str, object: &str) -> Result<bool> {
        // The object itself sorts first among the names it prefixes.
        let found = self.list_page(bucket, object, None, Some(1))?;
        Ok(found.0.iter().any(|o| o.name == object))
    }

    /// Every object under `prefix` (all pages).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (items, next) = self.list_page(bucket, prefix, token.as_deref(), None)?;
            out.extend(items);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Upload every file under `dir` to `gs://bucket/prefix/<relative path>`.
    pub fn upload_dir(&self, dir: &Path, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.sort();
        let prefix = prefix.trim_end_matches('/');
        files
            .iter()
            .map(|(rel, abs)| {
                let object = if prefix.is_empty() {
                    rel.clone()
                } else {
                    format!("{prefix}/{rel}")
                };
                self.upload_file(abs, bucket, &object)
            })
            .collect()
    }

    /// Download every object under `gs://bucket/prefix/` into `dir`, keeping relative paths;
    /// returns how many files. An empty prefix is an error (nothing there is never a bundle).
    pub fn download_prefix(&self, bucket: &str, prefix: &str, dir: &Path) -> Result<usize> {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        let objects = self.list(bucket, &prefix)?;
        if objects.is_empty() {
            return Err(GcpError::Api {
                action: "download",
                resource: gs(bucket, &prefix),
                status: 404,
                reason: Some("NOT_FOUND".into()),
                message: "no objects under this prefix".into(),
                hint: None,
            });
        }
        for o in &objects {
            let rel = &o.name[prefix.len()..];
            if rel.is_empty() || rel.ends_with('/') {
                continue; // folder placeholders made by the console
            }
            if rel.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(GcpError::Invalid {
                    field: "object name",
                    value: o.name.clone(),
                    expected: "a relative path without `..` or empty parts",
                });
            }
            self.download_file(bucket, &o.name, &dir.join(rel))?;
        }
        Ok(objects.len())
    }

    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        page_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<(Vec<ObjectInfo>, Option<String>)> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o",
            self.config.storage_endpoint.trim_end_matches('/')
        );
        let mut query: Vec<(&str, String)> = vec![
            ("prefix", prefix.to_string()),
            ("fields", "items(name,size),nextPageToken".into()),
        ];
        if let Some(t) = page_token {
            query.push(("pageToken", t.to_string()));
        }
        if let Some(m) = max_results {
            query.push(("maxResults", m.to_string()));
        }
        let page: ListPage = self.get_json("list", &gs(bucket, prefix), &url, &query)?;
        let items = page
            .items
            .into_iter()
            .map(|i| ObjectInfo {
                size: i.size.and_then(|s| s.parse().ok()).unwrap_or(0),
                name: i.name,
            })
            .collect();
        Ok((items, page.next_page_token))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    items: Vec<ListItem>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ListItem {
    name: String,
    /// uint64 as a JSON string, as Google's JSON mapping writes 64-bit integers.
    size: Option<String>,
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| GcpError::Io {
        action: "read",
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| GcpError::Io {
            action: "read",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
        }
    }
    Ok(())
}
