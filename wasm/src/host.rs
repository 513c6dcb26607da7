//! The boundary with JavaScript, written by hand (js/wasm.js is the other side):
//! what the wasm imports from the host (module "cairn": network, timers, storage,
//! errors, clock, randomness, lower-casing) and the memory hand-over of the exports.
//! No bindings generator: numbers cross as numbers, text and bytes as (pointer,
//! length) in the wasm's memory, and no JavaScript value is ever held by the wasm.
//!
//! Rules of the hand-over:
//! - JavaScript writes an export's arguments one after another into one block it
//!   got from `alloc(size)` (text encoded in place, with room for its worst case)
//!   and passes the block, then each argument's pointer and length; the export
//!   takes ownership of the block (`args_block`) and frees it.
//! - An export that returns text leaves it in `OUT` (alive until the next such
//!   export) and returns its pointer; JavaScript reads its length with `out_len`.
//! - Text handed to an import is only borrowed for the call (JavaScript copies it).
//!
//! On other targets (tests, clippy) the imports are stubs that do nothing.
//!
//! Names on the wire are one letter (gzip does not shrink a name said once; ~90 B
//! of the shipped wasm and JS), listed here and in js/wasm.js:
//! - imports (module "cairn"): s send, b beacon, w wake, p put, c commit,
//!   d settled, f fail, n now (the core's own `random` and `lower` keep theirs);
//! - exports, upper case (an import and an export of one name would be one symbol
//!   to the linker): A alloc, L out_len, S start, C call, T ctl, O stored (and
//!   `memory`).

use std::alloc::{alloc as raw_alloc, Layout};
use std::cell::RefCell;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "cairn")]
    extern "C" {
        #[link_name = "s"]
        pub fn send(
            id: f64,
            url: *const u8,
            url_len: usize,
            headers: *const u8,
            headers_len: usize,
            body: *const u8,
            body_len: usize,
        );
        #[link_name = "b"]
        pub fn beacon(url: *const u8, url_len: usize, body: *const u8, body_len: usize) -> u32;
        #[link_name = "w"]
        pub fn wake(ms: f64);
        #[link_name = "p"]
        pub fn put(key: *const u8, key_len: usize, value: *const u8, value_len: usize, delete: u32);
        #[link_name = "c"]
        pub fn commit();
        #[link_name = "d"]
        pub fn settled(oldest_pending: f64, error: *const u8, error_len: usize);
        #[link_name = "f"]
        pub fn fail(message: *const u8, message_len: usize);
        #[link_name = "n"]
        pub fn now() -> f64;
    }
}

/// POSTs `body` to `url`; `headers` is `name\nvalue\n...`. Answers via `ctl` 6.
pub fn send(id: f64, url: &str, headers: &str, body: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::send(
            id,
            url.as_ptr(),
            url.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (id, url, headers, body);
}

/// navigator.sendBeacon(url, text/plain body); true when the browser took it.
pub fn beacon(url: &str, body: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::beacon(url.as_ptr(), url.len(), body.as_ptr(), body.len()) != 0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (url, body);
        false
    }
}

/// Calls `pump` after `ms` (replacing any earlier timer); `ms < 0` cancels.
pub fn wake(ms: f64) {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::wake(ms)
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = ms;
}

/// Queues a storage write (`None`: delete) for the next `commit`.
pub fn put(key: &str, value: Option<&[u8]>) {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        let v = value.unwrap_or_default();
        imports::put(
            key.as_ptr(),
            key.len(),
            v.as_ptr(),
            v.len(),
            value.is_none().into(),
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (key, value);
}

/// Applies the queued writes in one transaction.
pub fn commit() {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::commit()
    }
}

/// Upload progress for flush() promises: the oldest seq still pending (-1: none)
/// and the error of a failed attempt ("": none).
pub fn settled(oldest_pending: f64, error: &str) {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::settled(oldest_pending, error.as_ptr(), error.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (oldest_pending, error);
}

/// The export in progress failed with this message: the host throws it as an
/// `Error` when the export returns (its return value is then meaningless).
pub fn fail(message: &str) {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::fail(message.as_ptr(), message.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}

/// `Date.now()`.
pub fn now() -> f64 {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        imports::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    0.0
}

// --- The exports' memory hand-over -------------------------------------------------

thread_local! {
    /// The text an export returned (see the module rules).
    static OUT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Memory for `len` bytes of an argument (1 for none: a dangling, aligned pointer).
#[export_name = "A"]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return std::ptr::NonNull::dangling().as_ptr();
    }
    // Safety: the size is not zero; a failed allocation aborts (as a Vec's would).
    let p = unsafe { raw_alloc(Layout::from_size_align(len, 1).unwrap_or(Layout::new::<u8>())) };
    if p.is_null() {
        std::process::abort();
    }
    p
}

/// The block of an export's arguments, owned from here: freed when dropped.
///
/// # Safety
/// `ptr` came from `alloc(size)` (or is 1 with `size` 0) and is handed over once.
pub unsafe fn args_block(ptr: *mut u8, size: usize) -> Vec<u8> {
    Vec::from_raw_parts(ptr, 0, size)
}

/// An argument in the block: `len` bytes at `ptr`.
///
/// # Safety
/// The bytes lie in a block from `args_block` that outlives the slice.
pub unsafe fn arg<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    std::slice::from_raw_parts(ptr, len)
}

/// A text argument.
///
/// # Safety
/// As `arg`, and JavaScript's `TextEncoder` wrote it (UTF-8).
pub unsafe fn text<'a>(ptr: *const u8, len: usize) -> &'a str {
    std::str::from_utf8_unchecked(arg(ptr, len))
}

/// Keeps `s` for JavaScript to read; returns its pointer (`out_len`: its length).
pub fn out(s: String) -> *const u8 {
    OUT.with(|o| {
        let mut o = o.borrow_mut();
        *o = s;
        o.as_ptr()
    })
}

/// The length of the text the last export returned.
#[export_name = "L"]
pub extern "C" fn out_len() -> usize {
    OUT.with(|o| o.borrow().len())
}
