//! Allocations on the hot path, counted with this test binary's global allocator:
//! a variable lookup allocates nothing, and rendering the newsletter payload into a
//! reused buffer allocates once per string a function builds (`stringConcat`), plus
//! nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use courier::template::JsonTemplate;
use courier::{Context, Engine, Template, Variables};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn newsletter() -> (String, Variables) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/newsletter");
    let payload = std::fs::read_to_string(root.join("payload.json")).unwrap();
    let vars: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("vars.json")).unwrap()).unwrap();
    (payload, Variables::from_json(&vars).unwrap())
}

#[test]
fn variable_lookups_allocate_nothing() {
    let engine = Engine::new();
    let context = Context::default();
    let variables = Variables::from_strings([("email", "anna@example.org"), ("age", "41")]);
    let template = Template::compile(&engine, "${email} is ${age}: ${age >= 18}").unwrap();
    let mut out = String::with_capacity(256);
    template.render_into(&variables, &context, &mut out).unwrap();
    assert_eq!(count(|| template.render_into(&variables, &context, &mut out).unwrap()), 0);
    let expression = engine.compile_expression("email == 'x' || age > 40").unwrap();
    assert_eq!(count(|| drop(expression.evaluate(&variables, &context).unwrap())), 0);
}

#[test]
fn newsletter_render_allocates_once_per_built_string() {
    let (payload, variables) = newsletter();
    let engine = Engine::new();
    let context = Context::default();
    let template = JsonTemplate::compile(&engine, &payload).unwrap();
    let mut out = Vec::with_capacity(1024);
    template.render_to_bytes(&variables, &context, &mut out).unwrap();
    out.clear();
    // One string is built per render: the key's stringConcat.
    let allocations = count(|| template.render_to_bytes(&variables, &context, &mut out).unwrap());
    assert!(allocations <= 2, "{allocations} allocations per render");
}
