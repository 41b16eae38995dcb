//! The playground page and the OpenAPI document: static text compiled into the
//! binary (no CDN, no network), served with their content types.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("page/index.html");
const STYLESHEET: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");
const OPENAPI: &str = include_str!("openapi.json");

pub(crate) async fn index() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

pub(crate) async fn stylesheet() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET)
}

pub(crate) async fn script() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}

pub(crate) async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::SCRIPT;

    /// The page completes every operation of the language after a `.`, and no other.
    #[test]
    fn the_page_completes_the_languages_operations() {
        let listed = SCRIPT.split("const OPERATIONS = [").nth(1).and_then(|rest| rest.split("];").next()).unwrap();
        let names: Vec<&str> =
            listed.split("[\"").skip(1).map(|entry| entry.split('"').next().unwrap_or_default()).collect();
        assert_eq!(names, crate::eval::operation_names().collect::<Vec<_>>());
    }
}
