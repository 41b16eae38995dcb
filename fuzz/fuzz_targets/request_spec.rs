//! Load arbitrary request specs (TOML, then JSON) and render what loads as a dry run:
//! loading refuses or compiles, rendering succeeds or errs, nothing panics. No
//! request is sent and no local file is read (the library's default).
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use courier::request::{CompiledRequest, Cookies, Executor};
use courier::{Context, Engine, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: LazyLock<Engine> = LazyLock::new(Engine::new);
static EXECUTOR: LazyLock<Executor> = LazyLock::new(Executor::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let base = Path::new("/nonexistent-courier-fuzz");
    let loaded = CompiledRequest::from_toml(&ENGINE, text, base).or_else(|_| CompiledRequest::from_json(&ENGINE, text, base));
    let Ok(request) = loaded else { return };
    let variables = Variables::from_strings([("shop_url", "https://shop.example.org"), ("x", "a b\r\n\"}")]);
    let _ = EXECUTOR.dry_run(&request, &variables, &Context::default(), &Cookies::default());
});
