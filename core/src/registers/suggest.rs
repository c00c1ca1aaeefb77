//! The closest known codes to a value no register knows, for the error that refuses it.
//!
//! Values are compared in a normalised form (lower case, umlauts and ß spelled out, accents
//! dropped, everything but letters and digits removed), so `lebenstedt`, `Lebenstedt ` and
//! `LEBENSTEDT` all match `Lebenstedt` exactly; then a value that contains a code or is contained
//! in one (`SZ-Lebenstedt`); then by edit distance between the normalised forms.

/// The normalised form a value is compared in.
pub(crate) fn normalise(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'à' | 'á' | 'â' | 'ã' | 'å' => out.push('a'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ò' | 'ó' | 'ô' | 'õ' => out.push('o'),
            'ù' | 'ú' | 'û' => out.push('u'),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// The Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// How far `candidate` is from `value` (normalised): 0 for the same normalised form, 1 when one
/// contains the other, otherwise 2 plus the edit distance.
fn score(value: &str, candidate: &str) -> usize {
    if value == candidate {
        0
    } else if !value.is_empty()
        && !candidate.is_empty()
        && (value.contains(candidate) || candidate.contains(value))
    {
        1
    } else {
        2 + edit_distance(value, candidate)
    }
}

/// The `count` candidates closest to `value`, closest first; ties in the candidates' order.
pub fn closest<'a>(
    value: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    count: usize,
) -> Vec<String> {
    let value = normalise(value);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|candidate| (score(&value, &normalise(candidate)), candidate))
        .collect();
    scored.sort_by_key(|(score, _)| *score);
    scored
        .into_iter()
        .take(count)
        .map(|(_, candidate)| candidate.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISTRICTS: [&str; 5] = ["Gebhardshagen", "Lebenstedt", "Salder", "Thiede", "Üfingen"];

    #[test]
    fn case_and_spacing_match_exactly() {
        assert_eq!(closest("lebenstedt", DISTRICTS, 1), ["Lebenstedt"]);
        assert_eq!(closest(" LEBENSTEDT ", DISTRICTS, 1), ["Lebenstedt"]);
    }

    #[test]
    fn umlauts_spelled_out_match() {
        assert_eq!(closest("Uefingen", DISTRICTS, 1), ["Üfingen"]);
    }

    #[test]
    fn a_prefixed_spelling_finds_its_code() {
        assert_eq!(closest("SZ-Lebenstedt", DISTRICTS, 1), ["Lebenstedt"]);
    }

    #[test]
    fn a_typo_is_closest_to_the_intended_code() {
        assert_eq!(closest("Gebhartshagen", DISTRICTS, 2)[0], "Gebhardshagen");
        assert_eq!(closest("Thiedee", DISTRICTS, 3)[0], "Thiede");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
