//! Unified diffs shaped like Python's `difflib.unified_diff` with empty file
//! names, which is what Salt puts under `changes.diff`.

use std::collections::HashMap;
use std::hash::Hash;

/// What an opcode does (difflib's tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Equal,
    Replace,
    Delete,
    Insert,
}

/// difflib's opcode: `tag`, `a[i1..i2]`, `b[j1..j2]`.
pub type Opcode = (Tag, usize, usize, usize, usize);

/// A port of Python's `difflib.SequenceMatcher` (no junk function,
/// `autojunk=True`): the same matching blocks, so hunks land where Salt's
/// diffs put them (a line inserted before an identical one shows as
/// inserted first, not after).
struct SequenceMatcher<'x, T> {
    a: &'x [T],
    b: &'x [T],
    b2j: HashMap<&'x T, Vec<usize>>,
}

impl<'x, T: Eq + Hash> SequenceMatcher<'x, T> {
    fn new(a: &'x [T], b: &'x [T]) -> Self {
        let mut b2j: HashMap<&T, Vec<usize>> = HashMap::new();
        for (i, elt) in b.iter().enumerate() {
            b2j.entry(elt).or_default().push(i);
        }
        // autojunk: in a long b, elements found in more than 1% of it are
        // "popular" and never start a match (they can still extend one)
        let n = b.len();
        if n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idxs| idxs.len() <= ntest);
        }
        SequenceMatcher { a, b, b2j }
    }

    fn find_longest_match(
        &self,
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
    ) -> (usize, usize, usize) {
        let (a, b) = (self.a, self.b);
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0);
        let mut j2len: HashMap<usize, usize> = HashMap::new();
        for (i, elt) in a.iter().enumerate().take(ahi).skip(alo) {
            let mut newj2len: HashMap<usize, usize> = HashMap::new();
            if let Some(js) = self.b2j.get(elt) {
                for &j in js {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = j
                        .checked_sub(1)
                        .and_then(|p| j2len.get(&p))
                        .copied()
                        .unwrap_or(0)
                        + 1;
                    newj2len.insert(j, k);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            j2len = newj2len;
        }
        while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && a[besti + bestsize] == b[bestj + bestsize]
        {
            bestsize += 1;
        }
        (besti, bestj, bestsize)
    }

    fn matching_blocks(&self) -> Vec<(usize, usize, usize)> {
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut blocks = Vec::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.find_longest_match(alo, ahi, blo, bhi);
            if k > 0 {
                blocks.push((i, j, k));
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        blocks.sort_unstable();
        let (mut i1, mut j1, mut k1) = (0, 0, 0);
        let mut out = Vec::new();
        for (i2, j2, k2) in blocks {
            if i1 + k1 == i2 && j1 + k1 == j2 {
                k1 += k2;
            } else {
                if k1 > 0 {
                    out.push((i1, j1, k1));
                }
                (i1, j1, k1) = (i2, j2, k2);
            }
        }
        if k1 > 0 {
            out.push((i1, j1, k1));
        }
        out.push((la, lb, 0));
        out
    }

    fn opcodes(&self) -> Vec<Opcode> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        for (ai, bj, size) in self.matching_blocks() {
            let tag = if i < ai && j < bj {
                Some(Tag::Replace)
            } else if i < ai {
                Some(Tag::Delete)
            } else if j < bj {
                Some(Tag::Insert)
            } else {
                None
            };
            if let Some(tag) = tag {
                out.push((tag, i, ai, j, bj));
            }
            (i, j) = (ai + size, bj + size);
            if size > 0 {
                out.push((Tag::Equal, ai, i, bj, j));
            }
        }
        out
    }
}

/// difflib's `SequenceMatcher(None, a, b).get_grouped_opcodes(n)`.
pub fn grouped_opcodes<T: Eq + Hash>(a: &[T], b: &[T], n: usize) -> Vec<Vec<Opcode>> {
    let mut codes = SequenceMatcher::new(a, b).opcodes();
    if codes.is_empty() {
        codes.push((Tag::Equal, 0, 1, 0, 1));
    }
    if let Some(first) = codes.first_mut() {
        if first.0 == Tag::Equal {
            let (tag, i1, i2, j1, j2) = *first;
            *first = (
                tag,
                i1.max(i2.saturating_sub(n)),
                i2,
                j1.max(j2.saturating_sub(n)),
                j2,
            );
        }
    }
    if let Some(last) = codes.last_mut() {
        if last.0 == Tag::Equal {
            let (tag, i1, i2, j1, j2) = *last;
            *last = (tag, i1, i2.min(i1 + n), j1, j2.min(j1 + n));
        }
    }
    let nn = n + n;
    let mut groups = Vec::new();
    let mut group = Vec::new();
    for (tag, mut i1, i2, mut j1, j2) in codes {
        if tag == Tag::Equal && i2 - i1 > nn {
            group.push((tag, i1, i2.min(i1 + n), j1, j2.min(j1 + n)));
            groups.push(std::mem::take(&mut group));
            i1 = i1.max(i2.saturating_sub(n));
            j1 = j1.max(j2.saturating_sub(n));
        }
        group.push((tag, i1, i2, j1, j2));
    }
    let only_equal = group.len() == 1 && group[0].0 == Tag::Equal;
    if !group.is_empty() && !only_equal {
        groups.push(group);
    }
    groups
}

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
    unified_items(&a, &b).concat()
}

/// The items `difflib.unified_diff(a, b, n=3)` yields (empty file names,
/// `lineterm="\n"`): headers, hunk ranges, then each line with its mark.
fn unified_items(a: &[&str], b: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for group in grouped_opcodes(a, b, 3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        if items.is_empty() {
            items.push("--- \n".into());
            items.push("+++ \n".into());
        }
        let old_range = range(first.1, last.2);
        let new_range = range(first.3, last.4);
        items.push(format!("@@ -{old_range} +{new_range} @@\n"));
        for &(tag, i1, i2, j1, j2) in &group {
            if tag == Tag::Equal {
                items.extend(a[i1..i2].iter().map(|l| format!(" {l}")));
                continue;
            }
            if matches!(tag, Tag::Replace | Tag::Delete) {
                items.extend(a[i1..i2].iter().map(|l| format!("-{l}")));
            }
            if matches!(tag, Tag::Replace | Tag::Insert) {
                items.extend(b[j1..j2].iter().map(|l| format!("+{l}")));
            }
        }
    }
    items
}

/// `"\n".join(difflib.unified_diff(a, b))` over lines without newlines, as
/// `file.append` builds its diff: headers keep their own newline, so they
/// are followed by an empty line.
pub fn unified_joined(old: &[&str], new: &[&str]) -> String {
    unified_items(old, new).join("\n")
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

    /// difflib's matching, not Myers': a line inserted before an identical
    /// first line is the first line of the hunk (as in Salt's file.line).
    #[test]
    fn insertion_before_an_identical_line_matches_difflib() {
        // difflib.unified_diff(["# first\n","[main]\n","a\n","b\n"],
        //   ["# first\n","# first\n","[main]\n","a\n","b\n"])
        assert_eq!(
            unified(
                b"# first\n[main]\na\nb\n",
                b"# first\n# first\n[main]\na\nb\n"
            ),
            "--- \n+++ \n@@ -1,3 +1,4 @@\n+# first\n # first\n [main]\n a\n"
        );
        // a replace shows the removed lines first; far changes split hunks
        assert_eq!(
            unified(b"x\ny\nz\n", b"x\nY\nY2\nz\n"),
            "--- \n+++ \n@@ -1,3 +1,4 @@\n x\n-y\n+Y\n+Y2\n z\n"
        );
    }

    /// autojunk: in 200+ lines, a line found in more than 1% of them does
    /// not anchor a match (difflib gives the same output).
    #[test]
    fn popular_lines_do_not_anchor_matches() {
        let old: String = (0..210)
            .map(|i| {
                if i % 2 == 0 {
                    "same\n".to_string()
                } else {
                    format!("{i}\n")
                }
            })
            .collect();
        let new = format!("head\n{old}");
        let d = unified(old.as_bytes(), new.as_bytes());
        assert!(
            d.starts_with("--- \n+++ \n@@ -1,3 +1,4 @@\n+head\n same\n 1\n same\n"),
            "{d}"
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
