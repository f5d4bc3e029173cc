//! What a minion id may be. Ids become file names (key directories, caches),
//! log fields and lines of `brine-key -L`, so they are checked where they
//! enter: at enrollment, before anything is stored.
//!
//! Salt refuses ids with `/`, `\` or NUL and ids that leave the pki
//! directory (`salt.utils.verify.valid_id`); Brine also refuses control
//! characters (a newline or an ANSI escape would forge lines of a listing or
//! a log), surrounding whitespace, and ids longer than a file name may be.

/// Longest id accepted, in bytes (a file name's limit on Linux).
pub const MAX_MINION_ID_LEN: usize = 255;

/// Why an id is refused, in words for the operator and the minion's log.
pub fn check_minion_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the minion id is empty".into());
    }
    if id.len() > MAX_MINION_ID_LEN {
        return Err(format!(
            "the minion id is {} bytes long; at most {MAX_MINION_ID_LEN} are allowed",
            id.len()
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is not a valid minion id"));
    }
    if let Some(c) = id.chars().find(|c| matches!(c, '/' | '\\' | '\0')) {
        return Err(format!(
            "the minion id contains {}, which is not allowed",
            c.escape_debug()
        ));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the minion id contains the control character {}",
            c.escape_debug()
        ));
    }
    if id.trim() != id {
        return Err("the minion id starts or ends with whitespace".into());
    }
    Ok(())
}

/// An id as it may safely appear on a terminal: control characters (which
/// ids from older stores may still hold) are shown escaped, so one id is
/// always one line.
pub fn display_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_rules_and_ours() {
        for ok in [
            "web1",
            "web-01.example.com",
            "db_2",
            "host with space",
            "ünïcode",
        ] {
            assert!(check_minion_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "a\\b",
            "a\0b",
            "evil\nweb1",
            "\u{1b}[2Jwiped",
            " padded",
            "tab\t",
        ] {
            assert!(check_minion_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_minion_id(&"x".repeat(255)).is_ok());
        assert!(check_minion_id(&"x".repeat(256)).is_err());
        assert!(check_minion_id(&"x".repeat(4 << 20)).is_err());
    }

    #[test]
    fn display_keeps_one_id_on_one_line() {
        assert_eq!(display_id("web1"), "web1");
        assert_eq!(display_id("evil\nweb1"), "evil\\nweb1");
        assert_eq!(display_id("\u{1b}[2J"), "\\u{1b}[2J");
    }
}
