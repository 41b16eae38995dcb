//! Render arbitrary url and header templates with an arbitrary variable value: a
//! URL that renders is an absolute http(s) URL, a header that renders holds no CR,
//! LF or NUL.
#![no_main]

use courier::template::{HeaderTemplate, UrlTemplate};
use courier::{Context, Engine, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(Engine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, x) = text.split_once('\0').unwrap_or((text, "a b/c?d#e\r\nX-Injected: 1"));
    let variables = Variables::from_strings([("x", x), ("base", "https://shop.example.org")]);
    let context = Context::default();
    if let Ok(template) = UrlTemplate::compile(&ENGINE, source)
        && let Ok(rendered) = template.render(&variables, &context)
    {
        let url = url::Url::parse(&rendered).expect("a rendered URL parses");
        assert!(matches!(url.scheme(), "http" | "https"), "{rendered}");
    }
    if let Ok(template) = HeaderTemplate::compile(&ENGINE, source)
        && let Ok(rendered) = template.render(&variables, &context)
    {
        assert!(!rendered.contains(['\r', '\n', '\0']), "{rendered:?}");
    }
});
