//! waPC guest side, the protocol Kubewarden's policy-server speaks to `kubewarden-wapc`
//! policies (see ../README.md). The host calls `__guest_call(op_len, payload_len)`; we fetch
//! the operation name and payload with `__guest_request`, run it, and hand the result back with
//! `__guest_response` (returning 1) or `__guest_error` (returning 0).
#![allow(unsafe_code)]

#[link(wasm_import_module = "wapc")]
unsafe extern "C" {
    fn __guest_request(op_ptr: *mut u8, payload_ptr: *mut u8);
    fn __guest_response(ptr: *const u8, len: usize);
    fn __guest_error(ptr: *const u8, len: usize);
}

/// waPC initialisation hook: nothing to register, dispatch is a `match`.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {}

/// The single waPC entry point.
#[unsafe(no_mangle)]
pub extern "C" fn __guest_call(op_len: i32, payload_len: i32) -> i32 {
    let mut op = vec![0u8; op_len.max(0) as usize];
    let mut payload = vec![0u8; payload_len.max(0) as usize];
    // SAFETY: both buffers have exactly the lengths the host announced for this call, which
    // is what `__guest_request` writes.
    unsafe { __guest_request(op.as_mut_ptr(), payload.as_mut_ptr()) };
    let result = match op.as_slice() {
        b"validate" => Ok(crate::kubewarden_validate(&payload)),
        b"validate_settings" => Ok(crate::settings_json(&payload)),
        // Kubewarden's ProtocolVersion::V1, JSON-encoded.
        b"protocol_version" => Ok(br#""v1""#.to_vec()),
        other => Err(format!(
            "unknown waPC operation {:?}; this policy serves validate, validate_settings and \
             protocol_version",
            String::from_utf8_lossy(other)
        )
        .into_bytes()),
    };
    match result {
        Ok(bytes) => {
            // SAFETY: `bytes` is live and its length is exact for the duration of the call.
            unsafe { __guest_response(bytes.as_ptr(), bytes.len()) };
            1
        }
        Err(bytes) => {
            // SAFETY: as above.
            unsafe { __guest_error(bytes.as_ptr(), bytes.len()) };
            0
        }
    }
}
