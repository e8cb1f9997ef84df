//! Trace and span ids as CSV datasets write them: lowercase hex.

/// `text` as `bytes` bytes of hex, or why not.
pub fn hex(text: &str, bytes: usize) -> std::result::Result<Vec<u8>, String> {
    if text.len() != bytes * 2 || !text.is_ascii() {
        return Err(format!("id {text:?} is not {bytes} hex bytes"));
    }
    (0..bytes)
        .map(|i| {
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("id {text:?} is not hex"))
        })
        .collect()
}
