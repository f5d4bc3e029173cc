//! Unified diffs shaped like Python's `difflib.unified_diff` with empty file
//! names, which is what Salt puts under `changes.diff`.

use similar::{capture_diff_slices, group_diff_ops, Algorithm, DiffTag};

/// The unified diff between two texts (empty when they are equal), or Salt's
/// notes for binary content.
pub fn unified(old: &[u8], new: &[u8]) -> String {
    if old == new {
        return String::new();
    }
    match (is_binary(old), is_binary(new)) {
        (true, true) => return "Replace binary file".to_string(),
        (true, false) => return "Replace binary file with text file".to_string(),
        (false, true) => return "Replace text file with binary file".to_string(),
        (false, false) => {}
    }
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    unified_text(&old, &new)
}

/// difflib's unified diff of two texts split into lines that keep their
/// newline, three lines of context, headers `--- ` and `+++ `.
pub fn unified_text(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = capture_diff_slices(Algorithm::Myers, &a, &b);
    let groups = group_diff_ops(ops, 3);
    let mut out = String::new();
    for group in groups {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        if out.is_empty() {
            out.push_str("--- \n+++ \n");
        }
        let old_range = range(first.old_range().start, last.old_range().end);
        let new_range = range(first.new_range().start, last.new_range().end);
        out.push_str(&format!("@@ -{old_range} +{new_range} @@\n"));
        for op in &group {
            let (tag, old_r, new_r) = op.as_tag_tuple();
            if tag == DiffTag::Equal {
                for line in &a[old_r] {
                    out.push(' ');
                    out.push_str(line);
                }
                continue;
            }
            for line in &a[old_r] {
                out.push('-');
                out.push_str(line);
            }
            for line in &b[new_r] {
                out.push('+');
                out.push_str(line);
            }
        }
    }
    out
}

/// `"\n".join(difflib.unified_diff(a, b))` over lines without newlines, as
/// `file.append` builds its diff: headers keep their own newline, so they
/// are followed by an empty line.
pub fn unified_joined(old: &[&str], new: &[&str]) -> String {
    let ops = capture_diff_slices(Algorithm::Myers, old, new);
    let mut items: Vec<String> = Vec::new();
    for group in group_diff_ops(ops, 3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        if items.is_empty() {
            items.push("--- \n".into());
            items.push("+++ \n".into());
        }
        let old_range = range(first.old_range().start, last.old_range().end);
        let new_range = range(first.new_range().start, last.new_range().end);
        items.push(format!("@@ -{old_range} +{new_range} @@\n"));
        for op in &group {
            let (tag, old_r, new_r) = op.as_tag_tuple();
            if tag == DiffTag::Equal {
                items.extend(old[old_r].iter().map(|l| format!(" {l}")));
                continue;
            }
            items.extend(old[old_r].iter().map(|l| format!("-{l}")));
            items.extend(new[new_r].iter().map(|l| format!("+{l}")));
        }
    }
    items.join("\n")
}

/// difflib's `_format_range_unified`.
fn range(start: usize, stop: usize) -> String {
    let length = stop - start;
    match length {
        1 => format!("{}", start + 1),
        0 => format!("{start},0"),
        _ => format!("{},{length}", start + 1),
    }
}

/// Salt's `is_text` heuristic, simplified: a NUL byte or invalid UTF-8 with
/// many control characters marks binary content.
pub fn is_binary(data: &[u8]) -> bool {
    if data.is_empty() {
        return false;
    }
    if data.contains(&0) {
        return true;
    }
    if std::str::from_utf8(data).is_ok() {
        return false;
    }
    let sample = &data[..data.len().min(512)];
    let odd = sample
        .iter()
        .filter(|b| **b < 32 && !matches!(**b, b'\n' | b'\r' | b'\t' | 8 | 12))
        .count();
    odd * 100 / sample.len() > 30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_difflib_for_a_changed_line() {
        // python3 -c "import difflib;print(''.join(difflib.unified_diff(
        //   ['a\n','b\n','c\n'],['a\n','B\n','c\n'])),end='')"
        assert_eq!(
            unified(b"a\nb\nc\n", b"a\nB\nc\n"),
            "--- \n+++ \n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn single_line_and_empty_ranges_use_difflib_form() {
        assert_eq!(unified(b"", b"x\n"), "--- \n+++ \n@@ -0,0 +1 @@\n+x\n");
        assert_eq!(unified(b"x\n", b"x\n"), "");
    }

    #[test]
    fn far_apart_changes_make_two_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                _ => format!("{i}\n"),
            })
            .collect();
        let d = unified(old.as_bytes(), new.as_bytes());
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(d.starts_with("--- \n+++ \n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n"));
    }

    #[test]
    fn joined_form_matches_file_append() {
        // "\n".join(difflib.unified_diff(["a"], ["a", "b"]))
        assert_eq!(
            unified_joined(&["a"], &["a", "b"]),
            "--- \n\n+++ \n\n@@ -1 +1,2 @@\n\n a\n+b"
        );
    }

    #[test]
    fn binary_content_is_named_not_diffed() {
        assert_eq!(
            unified(b"a\0", b"text\n"),
            "Replace binary file with text file"
        );
    }
}
