//! A file body's file: read from the folder the host allows, or fetched from the
//! web under the request's limits; and the body's own headers.

use std::path::Path;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::super::body::{Body, FilePlan, FileSource};
use super::super::log::Redactor;
use super::super::redirect::Hop;
use super::super::spec::CompiledRequest;
use super::Executor;
use super::Failure;
use super::transport::Run;

impl Executor {
    /// Reads a file body's file, from disk or the web.
    pub(super) async fn file_body(
        &self,
        plan: FilePlan,
        request: &CompiledRequest,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Body, Failure> {
        let limit = self.inner.options.max_file_bytes;
        let bytes = match &plan.source {
            FileSource::Local(path) => {
                let path = path.clone();
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.read_local_file_now(&path))
                    .await
                    .map_err(|error| Failure::exception(format!("reading the file failed: {error}")))??
            }
            FileSource::Remote(url) => {
                let hop =
                    Hop { method: reqwest::Method::GET, url: url.to_string(), headers: HeaderMap::new(), body: None };
                let response = self
                    .send_following(hop, &request.timeouts, request.redirects, redactor, run)
                    .await
                    .map_err(|failure| match failure.refused {
                        // A refusal names the file's host already, and starts with why.
                        true => failure,
                        false => {
                            Failure { message: format!("fetching the file {url}: {}", failure.message), ..failure }
                        }
                    })?;
                if !(200..300).contains(&response.status) {
                    return Err(Failure::exception(format!(
                        "fetching the file {url}: the server answered {}",
                        response.status
                    )));
                }
                if response.body.len() > limit {
                    return Err(Failure::exception(format!("the file {url} is larger than {limit} bytes")));
                }
                response.body
            }
        };
        Ok(plan.finish(bytes))
    }

    pub(super) fn read_local_file_now(&self, path: &Path) -> Result<Vec<u8>, Failure> {
        use std::io::Read;
        let Some(folder) = &self.inner.options.local_files else {
            return Err(Failure::exception(format!(
                "the body's file {} is a local path, and this host does not allow reading local files: \
                 name the folder they may come from (courier send --files DIR; ExecutorOptions::local_files)",
                path.display()
            )));
        };
        let limit = self.inner.options.max_file_bytes;
        let cannot =
            |error: std::io::Error| Failure::exception(format!("cannot read the file {}: {error}", path.display()));
        // Links are followed before the check, so that none leads out of the folder.
        let resolved = path.canonicalize().map_err(cannot)?;
        let allowed = folder.canonicalize().map_err(|error| {
            Failure::exception(format!("the folder for local files {} cannot be read: {error}", folder.display()))
        })?;
        if !resolved.starts_with(&allowed) || !resolved.is_file() {
            return Err(Failure::exception(format!(
                "the body's file {} is not a file inside the folder this host allows ({})",
                path.display(),
                folder.display()
            )));
        }
        let file = std::fs::File::open(&resolved).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
        if bytes.len() > limit {
            return Err(Failure::exception(format!("the file {} is larger than {limit} bytes", path.display())));
        }
        Ok(bytes)
    }
}

/// The body's Content-Type and Content-Disposition, unless the spec's headers set them.
pub(super) fn add_body_headers(headers: &mut HeaderMap, body: Option<&Body>) {
    let Some(body) = body else { return };
    let mut set = |name: HeaderName, value: &str| {
        if !headers.contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &body.content_type);
    if let Some(disposition) = &body.disposition {
        set(header::CONTENT_DISPOSITION, disposition);
    }
}
