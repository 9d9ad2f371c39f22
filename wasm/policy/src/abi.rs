//! The C ABI the `kubectl skupper webhook` host calls (documented in ../README.md).
//!
//! Buffers cross the boundary as `(ptr, len)` pairs in this module's linear memory. The host
//! asks for input buffers with [`skupper_alloc`], copies the request and settings in, calls
//! [`skupper_validate`], and reads the answer at the `(ptr << 32) | len` it returns. The host
//! throws the whole instance away after one review, so freeing is optional; [`skupper_free`]
//! exists for hosts that reuse an instance.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc, dealloc};

/// Allocates `len` bytes (at least one) and returns their address, or 0 when memory is out.
#[unsafe(no_mangle)]
pub extern "C" fn skupper_alloc(len: u32) -> u32 {
    let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 1) else {
        return 0;
    };
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { alloc(layout) };
    ptr as usize as u32
}

/// Frees a buffer from [`skupper_alloc`] or a `(ptr, len)` answer of this module.
#[unsafe(no_mangle)]
pub extern "C" fn skupper_free(ptr: u32, len: u32) {
    if ptr == 0 {
        return;
    }
    let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 1) else {
        return;
    };
    // SAFETY: the caller passes back a pointer this module allocated with this very layout
    // (the ABI contract in ../README.md); 0 is filtered out above.
    unsafe { dealloc(ptr as usize as *mut u8, layout) }
}

/// Reviews one AdmissionReview with the given settings (both JSON); returns the packed answer.
#[unsafe(no_mangle)]
pub extern "C" fn skupper_validate(review_ptr: u32, review_len: u32, settings_ptr: u32, settings_len: u32) -> u64 {
    // SAFETY: the host wrote `review_len` / `settings_len` bytes at these addresses, into
    // buffers it got from `skupper_alloc` (ABI contract); they stay alive during this call.
    let (review, settings) = unsafe { (input(review_ptr, review_len), input(settings_ptr, settings_len)) };
    answer(crate::review_json(review, settings))
}

/// Checks settings (JSON); answers `{"valid": bool, "message"?: string}`, packed.
#[unsafe(no_mangle)]
pub extern "C" fn skupper_validate_settings(settings_ptr: u32, settings_len: u32) -> u64 {
    // SAFETY: as in `skupper_validate`.
    let settings = unsafe { input(settings_ptr, settings_len) };
    answer(crate::settings_json(settings))
}

/// The ABI version ([`crate::ABI_VERSION`]).
#[unsafe(no_mangle)]
pub extern "C" fn skupper_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// # Safety
/// `ptr` must address `len` readable bytes that outlive the returned slice (or `len` is 0).
unsafe fn input<'a>(ptr: u32, len: u32) -> &'a [u8] {
    if ptr == 0 || len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller, see above.
    unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

/// Moves `bytes` into a buffer laid out as [`skupper_alloc`] would and packs `(ptr, len)`.
fn answer(bytes: Vec<u8>) -> u64 {
    let len = bytes.len() as u32;
    let ptr = skupper_alloc(len);
    if ptr == 0 {
        return 0;
    }
    // SAFETY: `ptr` was just allocated with room for `len` (at least 1) bytes and does not
    // overlap `bytes`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr as usize as *mut u8, bytes.len()) };
    (u64::from(ptr) << 32) | u64::from(len)
}
