//! Byte search in statement text: does a statement mention a word at all,
//! before anything lexes it.
//!
//! Owns: [`contains_ignore_case`], the one cheap pre-check the security
//! gate runs on every statement (a 16 MB statement must not cost seconds).
//! Must not: tokenize or interpret SQL (that is [`super::lexer`]).

/// Bytes of `hay` lowercased at a time (on the stack).
const CHUNK: usize = 4096;
/// Longest needle searched by chunks (longer ones: a plain scan).
const MAX_NEEDLE: usize = 64;

/// Whether `hay` contains `needle`, ASCII case-insensitively. Linear in
/// `hay` whatever it holds: a short `hay` is searched in place
/// ([`contains_short`]); a longer one is lowercased a chunk at a time into a
/// stack buffer (chunks overlap by `needle.len() - 1` bytes) and each chunk
/// is searched with a vectorized substring finder.
pub fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.len() < needle.len() {
        return false;
    }
    if needle.len() > MAX_NEEDLE {
        return hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    if hay.len() <= CHUNK {
        return contains_short(hay, needle);
    }
    let mut lower_needle = [0u8; MAX_NEEDLE];
    let lower_needle = &mut lower_needle[..needle.len()];
    lower_needle.copy_from_slice(needle);
    lower_needle.make_ascii_lowercase();
    let finder = memchr::memmem::Finder::new(lower_needle);
    let mut buf = [0u8; CHUNK + MAX_NEEDLE];
    let mut start = 0;
    while start + needle.len() <= hay.len() {
        let end = (start + CHUNK + needle.len() - 1).min(hay.len());
        let chunk = &mut buf[..end - start];
        chunk.copy_from_slice(&hay[start..end]);
        chunk.make_ascii_lowercase();
        if finder.find(chunk).is_some() {
            return true;
        }
        start += CHUNK;
    }
    false
}

/// [`contains_ignore_case`] of a statement of at most [`CHUNK`] bytes
/// (nearly every one): the positions of the needle's first byte in either
/// case (`memchr2`), each compared in place. No buffer to clear and no
/// finder to build per call, which cost more than the search for short
/// texts (the security gate and the column-kind check call this a dozen
/// times per statement); at most `CHUNK * MAX_NEEDLE` byte comparisons.
fn contains_short(hay: &[u8], needle: &[u8]) -> bool {
    let (first, rest) = match needle.split_first() {
        Some(split) => split,
        None => return true,
    };
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, &hay[..=last])
        .any(|at| hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest))
}

#[cfg(test)]
mod tests {
    use super::contains_ignore_case;

    /// Generated haystacks against the quadratic definition.
    #[test]
    fn agrees_with_the_windows_definition() {
        let alphabet = b"uUsSeErR xX\0\xff";
        let long = [b'u'; 70];
        let needles: [&[u8]; 6] = [b"user", b"USER", b"u", b"", b"uu", &long];
        let mut seed = 0x9e37_79b9_u32;
        for len in (0..40).chain([511, 512, 513, 4095, 4096, 4097, 8200]) {
            for _ in 0..if len < 40 { 50 } else { 5 } {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        alphabet[seed as usize % alphabet.len()]
                    })
                    .collect();
                for n in needles {
                    let expected =
                        n.is_empty() || hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
                    assert_eq!(contains_ignore_case(&hay, n), expected, "{hay:?} {n:?}");
                }
            }
        }
    }

    /// The needle at every offset around the chunk boundaries.
    #[test]
    fn finds_the_needle_across_chunk_boundaries() {
        for len in [4100, 8300] {
            for at in (4080..4100).chain(8180..8200).filter(|&a| a + 4 <= len) {
                let mut hay = vec![b'x'; len];
                hay[at..at + 4].copy_from_slice(b"UsEr");
                assert!(contains_ignore_case(&hay, b"user"), "{len} {at}");
                assert!(!contains_ignore_case(&hay, b"users"), "{len} {at}");
            }
        }
    }

    /// 16 MB of the needle's first byte (the worst case: a candidate at
    /// every position) is still a linear scan.
    #[test]
    fn sixteen_megabytes_take_milliseconds() {
        let hay = vec![b'u'; 16 << 20];
        let before = thread_cpu();
        assert!(!contains_ignore_case(&hay, b"user"));
        assert!(!contains_ignore_case(&hay, b"processlist"));
        // CPU time of this thread, not wall time: other work on a loaded
        // machine must not fail a test of this function's own cost.
        let spent = thread_cpu().saturating_sub(before);
        assert!(spent < std::time::Duration::from_secs(2), "{spent:?}");
    }

    /// Time this thread has run on a CPU (Linux `schedstat`; elsewhere
    /// the time since the process started, which only loosens the test).
    fn thread_cpu() -> std::time::Duration {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .map(std::time::Duration::from_nanos)
            .unwrap_or_else(|| START.get_or_init(std::time::Instant::now).elapsed())
    }
}
