//! The precision guard: a semantic hit is refused when the two prompts differ in a way
//! that an embedding similarity cannot see but that changes the answer.
//!
//! A lexical (or even a neural) embedding puts "capital of France" and "capital of
//! Germany" close together; gateways that serve on similarity alone return Paris for
//! Germany (LiteLLM #12234). A wrong cached answer is worse than a miss, so every
//! candidate hit above the threshold must also pass [`check`]. The rules run in this
//! order and the first that differs is returned as a [`Mismatch`]:
//!
//! 1. **Numbers** ([`Mismatch::Number`]) — the multisets of numbers must be equal.
//!    A number is a run of ASCII digits, anywhere (also inside words: `python3`, `gpt-4o`
//!    give 3 and 4), with: thousands groups (`1,000` == `1000`; a comma followed by
//!    exactly three digits), a fraction (`2.5`), a minus sign when `-` directly precedes
//!    the digits and follows a space, `(`, `[`, `=`, `,`, `:` or the start (`-5`, but not
//!    the range in `5-10` or the hyphen in `gpt-4`). Normalized: leading zeros dropped
//!    (`007` == `7`), an all-zero fraction dropped (`3.0` == `3.00` == `3`), `-0` == `0`.
//!    Any other fraction is kept digit for digit (`3.10` != `3.1`: Python 3.10 is not 3.1;
//!    `2.50` vs `2.5` is therefore refused — a miss, not a wrong answer). Two or more dots
//!    make a version, kept verbatim (`1.2.3`). Spelled-out numbers (ASCII, any case) count
//!    as their value: `zero` to `nineteen`, the tens `twenty` to `ninety` with an optional
//!    unit after a space or hyphen (`twenty-five` == `25`), and the scales `hundred`,
//!    `thousand`, `million`, `billion` (`three hundred` == `300`, `a thousand` == `1000`).
//!    Not covered: ordinals (`first`, `2nd` counts as 2), fractions in words (`half`),
//!    `and` inside numbers (`two hundred and five` is 200 and 5), digits next to a scale
//!    word (`5 million` is 5 and 1000000, so it differs from `5,000,000`: refused).
//!    `one` always counts, also as a pronoun ("which one"): a refused paraphrase costs a
//!    miss, a merged "one" vs "two" would cost a wrong answer.
//! 2. **Quoted strings** ([`Mismatch::Quoted`]) — the multisets of quoted contents must be
//!    equal, compared exactly (case and inner spacing kept; surrounding whitespace
//!    trimmed). Quotes are `"…"`, `'…'`, `“…”`, `‘…’`, `«…»` and backtick runs (`` `x` ``,
//!    a fenced ```` ``` ```` block: the same number of backticks closes it). A `'` or `"`
//!    opens only after a non-alphanumeric character (so `don't`, `5"` do not open) and a
//!    `'`/`’` closes only before a non-alphanumeric one (so `'don't'` is one string). An
//!    unclosed quote is not a quote. Empty quotes are ignored.
//! 3. **Code identifiers** ([`Mismatch::Identifier`]) — the multisets of identifiers must
//!    be equal, case-sensitive. A token (alphanumerics and `_`, joined across `.` and `::`
//!    when another alphanumeric follows) is an identifier when it has `::`
//!    (`std::mem::swap`), an `_` (`snake_case`, `__init__`), a dot between segments where
//!    one segment starts with a letter and one is two or more characters long
//!    (`os.path.join`, `main.rs`, `example.com`; but not `e.g`, `U.S` or `3.5`), an
//!    opening parenthesis right after it (`len(` — recorded without the parenthesis), or
//!    camelCase starting lower-case (`getElementById`, `iPhone`). PascalCase words
//!    (`JavaScript`, `HashMap`) are left to the name rule, which ignores case, because
//!    users write product names in any case.
//! 4. **Capitalized names** ([`Mismatch::Name`]) — every name of one prompt must occur as
//!    a word in the other, ignoring case and a possessive `'s`. A name is a word that
//!    starts upper-case and is not sentence-initial (the first word of the text, or after
//!    `.`, `!`, `?`, `:`, `;` or a line break), plus, anywhere, acronyms (two or more
//!    characters, no lower-case letter: `AWS`, `EC2`, `NASA`) and words with an
//!    upper-case letter after a lower-case one (`JavaScript`). `I` (`I'm`, `I'll`, ...)
//!    and `OK` are not names. Occurrence rather than a multiset because position decides
//!    what counts as a name and a paraphrase moves words: "Paris is in France" and "Is
//!    Paris in France?" agree. All-lower-case entities ("capital of germany") are not
//!    seen by this rule; the embedding similarity must separate them.
//! 5. **Negation** ([`Mismatch::Negation`]) — the counts of negation cues must agree in
//!    presence (none vs some) and in parity (polarity: "not un-X" twice negated). Cues:
//!    [`NEGATIONS`] (`not`, `no`, `never`, `without`, `cannot`, ...), any word ending in
//!    `n't`/`n’t`, and the apostrophe-less spellings in [`NEGATIONS`] (`dont`, `cant`).
//!    Where the negation sits is not compared: "do not reset X and do Y" vs "reset X and
//!    do not do Y" passes; the embedding's bigrams see some of that.
//!
//! Pure function of the two strings. Features are compared by 64-bit hashes (FNV-1a,
//! finalized) kept in a bag with [`BAG_INLINE`] slots on the stack: no allocation unless
//! a prompt has more features than that of one kind (or a mismatch is reported with its
//! numbers). Every scan is linear in the text: a quote kind that found no closer is not
//! searched for again.

use crate::embed::lexical::Words;

/// Features of one kind kept on the stack per prompt before spilling to the heap.
pub const BAG_INLINE: usize = 32;
/// Bytes of a normalized number kept for the [`Mismatch::Number`] report (the comparison
/// hashes every byte).
pub const NUMBER_SHOWN_BYTES_MAX: usize = 40;
/// Backtick runs longer than this are not quotes (no Markdown fence is that long).
const BACKTICKS_MAX: usize = 16;

/// Negation cues, lower-case, sorted. Words ending in `n't` count too.
pub const NEGATIONS: &[&str] = &[
    "aint", "arent", "cannot", "cant", "couldnt", "didnt", "doesnt", "dont", "hadnt", "hasnt",
    "havent", "isnt", "mustnt", "neednt", "neither", "never", "no", "nobody", "none", "nor", "not",
    "nothing", "nowhere", "shouldnt", "wasnt", "werent", "without", "wont", "wouldnt",
];

/// Which rule refused the pair. `Number` carries the first number (normalized) found in
/// only one of the prompts, from `a` and from `b`; empty when that side has none extra.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    Number(String, String),
    Quoted,
    Identifier,
    Name,
    Negation,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Number(a, b) => write!(f, "numbers differ ({a:?} vs {b:?})"),
            Mismatch::Quoted => f.write_str("quoted strings differ"),
            Mismatch::Identifier => f.write_str("code identifiers differ"),
            Mismatch::Name => f.write_str("names differ"),
            Mismatch::Negation => f.write_str("negation differs"),
        }
    }
}

/// Ok when two prompts agree on every guarded feature (see the module doc for each rule);
/// Err names the first rule, in the documented order, that differs.
pub fn check(a: &str, b: &str) -> Result<(), Mismatch> {
    check_numbers(a, b)?;
    if !same_multiset(&mut bag(a, quoted), &mut bag(b, quoted)) {
        return Err(Mismatch::Quoted);
    }
    if !same_multiset(&mut bag(a, identifiers), &mut bag(b, identifiers)) {
        return Err(Mismatch::Identifier);
    }
    if !names_occur(a, b) || !names_occur(b, a) {
        return Err(Mismatch::Name);
    }
    let (na, nb) = (negations(a), negations(b));
    if (na > 0) != (nb > 0) || na % 2 != nb % 2 {
        return Err(Mismatch::Negation);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Bags of hashes

/// A multiset of feature hashes: inline up to [`BAG_INLINE`], then on the heap.
struct Bag {
    inline: [u64; BAG_INLINE],
    len: usize,
    spill: Vec<u64>,
}

impl Bag {
    fn new() -> Bag {
        Bag {
            inline: [0; BAG_INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, h: u64) {
        if self.len < BAG_INLINE {
            self.inline[self.len] = h;
            self.len += 1;
        } else {
            self.spill.push(h);
        }
    }

    fn sorted(&mut self) -> &[u64] {
        if self.spill.is_empty() {
            self.inline[..self.len].sort_unstable();
            &self.inline[..self.len]
        } else {
            self.spill.extend_from_slice(&self.inline[..self.len]);
            self.len = 0;
            self.spill.sort_unstable();
            &self.spill
        }
    }

    fn contains(&self, h: u64) -> bool {
        self.iter().any(|x| *x == h)
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && self.spill.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &u64> {
        self.inline[..self.len].iter().chain(&self.spill)
    }
}

fn bag(text: &str, scan: fn(&str, &mut dyn FnMut(u64))) -> Bag {
    let mut b = Bag::new();
    scan(text, &mut |h| b.push(h));
    b
}

fn same_multiset(a: &mut Bag, b: &mut Bag) -> bool {
    a.sorted() == b.sorted()
}

/// The first element of sorted `a` left over after matching it against sorted `b`.
fn first_extra(a: &[u64], b: &[u64]) -> Option<u64> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if j == b.len() || a[i] < b[j] {
            return Some(a[i]);
        }
        if a[i] == b[j] {
            i += 1;
        }
        j += 1;
    }
    None
}

/// FNV-1a over bytes with a SplitMix64 finalizer.
#[derive(Clone, Copy)]
struct Hasher(u64);

impl Hasher {
    const fn new(kind: u64) -> Hasher {
        Hasher(0xcbf2_9ce4_8422_2325 ^ kind)
    }
    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    fn bytes(&mut self, bs: &[u8]) {
        bs.iter().for_each(|b| self.byte(*b));
    }
    fn char(&mut self, c: char) {
        self.bytes(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
    fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// ---------------------------------------------------------------------------------------
// Rule 1: numbers

fn check_numbers(a: &str, b: &str) -> Result<(), Mismatch> {
    let (mut ba, mut bb) = (bag(a, hash_numbers), bag(b, hash_numbers));
    if same_multiset(&mut ba, &mut bb) {
        return Ok(());
    }
    // Cold path: name the numbers that differ.
    let (sa, sb) = (ba.sorted().to_vec(), bb.sorted().to_vec());
    let show = |text: &str, extra: Option<u64>| {
        let mut shown = String::new();
        if let Some(h) = extra {
            numbers(text, &mut |n: &Number| {
                if shown.is_empty() && n.hash == h {
                    shown = String::from_utf8_lossy(n.shown()).into_owned();
                }
            });
        }
        shown
    };
    Err(Mismatch::Number(
        show(a, first_extra(&sa, &sb)),
        show(b, first_extra(&sb, &sa)),
    ))
}

fn hash_numbers(text: &str, out: &mut dyn FnMut(u64)) {
    numbers(text, &mut |n: &Number| out(n.hash));
}

/// One normalized number: its hash and the first bytes of its canonical form.
struct Number {
    hash: u64,
    shown: [u8; NUMBER_SHOWN_BYTES_MAX],
    shown_len: usize,
}

impl Number {
    fn new() -> Number {
        Number {
            hash: 0,
            shown: [0; NUMBER_SHOWN_BYTES_MAX],
            shown_len: 0,
        }
    }
    fn shown(&self) -> &[u8] {
        &self.shown[..self.shown_len]
    }
}

/// Writes a canonical number: hashes every byte, keeps the first ones for display.
struct Canon {
    h: Hasher,
    n: Number,
}

impl Canon {
    fn new() -> Canon {
        Canon {
            h: Hasher::new(1),
            n: Number::new(),
        }
    }
    fn put(&mut self, b: u8) {
        self.h.byte(b);
        if self.n.shown_len < NUMBER_SHOWN_BYTES_MAX {
            self.n.shown[self.n.shown_len] = b;
            self.n.shown_len += 1;
        }
    }
    fn put_u64(&mut self, v: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut v = v;
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        buf[i..].iter().for_each(|b| self.put(*b));
    }
    fn finish(mut self) -> Number {
        self.n.hash = self.h.finish();
        self.n
    }
}

/// Every number of `text`, digits first, then spelled-out ones.
fn numbers(text: &str, out: &mut dyn FnMut(&Number)) {
    digit_numbers(text.as_bytes(), out);
    spelled_numbers(text, out);
}

fn digit_numbers(s: &[u8], out: &mut dyn FnMut(&Number)) {
    let digits_from = |mut j: usize| {
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut i = 0;
    while i < s.len() {
        if !s[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let negative = start >= 1
            && s[start - 1] == b'-'
            && (start == 1
                || matches!(
                    s[start - 2],
                    b' ' | b'\t' | b'\n' | b'(' | b'[' | b'=' | b',' | b':'
                ));
        // Integer part, with thousands groups.
        let mut end = digits_from(start);
        let mut int_groups = [(start, end); 8];
        let mut groups = 1;
        while end + 4 <= s.len()
            && s[end] == b','
            && digits_from(end + 1) == end + 4
            && groups < int_groups.len()
        {
            int_groups[groups] = (end + 1, end + 4);
            groups += 1;
            end += 4;
        }
        // Fractions: one makes a decimal, two or more a version.
        let mut fracs = [(0usize, 0usize); 8];
        let mut nfrac = 0;
        while end + 1 < s.len()
            && s[end] == b'.'
            && s[end + 1].is_ascii_digit()
            && nfrac < fracs.len()
        {
            let f_end = digits_from(end + 1);
            fracs[nfrac] = (end + 1, f_end);
            nfrac += 1;
            end = f_end;
        }
        let mut c = Canon::new();
        let mut leading = true;
        let int_zero = int_groups[..groups]
            .iter()
            .all(|&(a, b)| s[a..b].iter().all(|d| *d == b'0'));
        let frac_zero = nfrac == 1 && s[fracs[0].0..fracs[0].1].iter().all(|d| *d == b'0');
        if negative && !(int_zero && (nfrac == 0 || frac_zero)) {
            c.put(b'-');
        }
        for &(a, b) in &int_groups[..groups] {
            for &d in &s[a..b] {
                if leading && d == b'0' {
                    continue;
                }
                leading = false;
                c.put(d);
            }
        }
        if leading {
            c.put(b'0');
        }
        if !(nfrac == 1 && frac_zero) {
            for &(a, b) in &fracs[..nfrac] {
                c.put(b'.');
                s[a..b].iter().for_each(|d| c.put(*d));
            }
        }
        out(&c.finish());
        i = end;
    }
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

#[derive(Clone, Copy, PartialEq)]
enum Spelled {
    Unit(u64),
    Tens(u64),
    Hundred,
    Scale(u64),
}

fn spelled(word: &str) -> Option<Spelled> {
    let eq = |w: &&str| w.eq_ignore_ascii_case(word);
    if let Some(i) = UNITS.iter().position(eq) {
        return Some(Spelled::Unit(i as u64));
    }
    if let Some(i) = TENS.iter().position(eq) {
        return Some(Spelled::Tens(20 + 10 * i as u64));
    }
    const SCALES: [(&str, Spelled); 4] = [
        ("hundred", Spelled::Hundred),
        ("thousand", Spelled::Scale(1_000)),
        ("million", Spelled::Scale(1_000_000)),
        ("billion", Spelled::Scale(1_000_000_000)),
    ];
    SCALES.iter().find(|(w, _)| eq(w)).map(|(_, s)| *s)
}

/// Runs of number words joined by spaces or hyphens, each run one number.
fn spelled_numbers(text: &str, out: &mut dyn FnMut(&Number)) {
    struct Run {
        total: u64,
        current: u64,
        last: Option<Spelled>,
        end: usize,
    }
    let flush = |run: &mut Run, out: &mut dyn FnMut(&Number)| {
        if run.last.is_some() {
            let mut c = Canon::new();
            c.put_u64(run.total.saturating_add(run.current));
            out(&c.finish());
        }
        *run = Run {
            total: 0,
            current: 0,
            last: None,
            end: 0,
        };
    };
    let mut run = Run {
        total: 0,
        current: 0,
        last: None,
        end: 0,
    };
    for (start, word) in Words::new(text) {
        let Some(w) = spelled(word) else {
            flush(&mut run, out);
            continue;
        };
        let joined =
            run.last.is_some() && text[run.end..start].bytes().all(|b| b == b' ' || b == b'-');
        if !joined {
            flush(&mut run, out);
        }
        match (run.last, w) {
            (Some(Spelled::Unit(_)), Spelled::Unit(_) | Spelled::Tens(_))
            | (Some(Spelled::Tens(_)), Spelled::Tens(_)) => flush(&mut run, out),
            (Some(Spelled::Tens(_)), Spelled::Unit(u)) if u >= 10 || u == 0 => flush(&mut run, out),
            _ => {}
        }
        match w {
            Spelled::Unit(v) | Spelled::Tens(v) => run.current += v,
            Spelled::Hundred => run.current = run.current.max(1).saturating_mul(100),
            Spelled::Scale(s) => {
                run.total = run
                    .total
                    .saturating_add(run.current.max(1).saturating_mul(s));
                run.current = 0;
            }
        }
        run.last = Some(w);
        run.end = start + word.len();
    }
    flush(&mut run, out);
}

// ---------------------------------------------------------------------------------------
// Rule 2: quoted strings

fn closer_of(c: char) -> Option<char> {
    Some(match c {
        '"' => '"',
        '\'' => '\'',
        '“' => '”',
        '‘' => '’',
        '«' => '»',
        _ => return None,
    })
}

fn quoted(text: &str, out: &mut dyn FnMut(u64)) {
    let bytes = text.as_bytes();
    // Quote kinds (and backtick run lengths) already known to have no closer further on.
    let mut exhausted_chars: [char; 5] = ['\0'; 5];
    let mut n_exhausted = 0;
    let mut exhausted_ticks = [false; BACKTICKS_MAX + 1];
    let mut prev: Option<char> = None;
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or('\0');
        if c == '`' {
            let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
            let body = i + run;
            if run <= BACKTICKS_MAX && !exhausted_ticks[run] {
                if let Some(close) = find_tick_run(&bytes[body..], run) {
                    emit_quoted(&text[body..body + close], out);
                    i = body + close + run;
                    prev = Some('`');
                    continue;
                }
                exhausted_ticks[run] = true;
            }
            i = body;
            prev = Some('`');
            continue;
        }
        let opens = closer_of(c).filter(|_| !prev.is_some_and(char::is_alphanumeric));
        if let Some(close) = opens.filter(|_| !exhausted_chars[..n_exhausted].contains(&c)) {
            let body = i + c.len_utf8();
            if let Some(end) = find_closer(&text[body..], close) {
                emit_quoted(&text[body..body + end], out);
                i = body + end + close.len_utf8();
                prev = Some(close);
                continue;
            }
            exhausted_chars[n_exhausted] = c;
            n_exhausted += 1;
        }
        prev = Some(c);
        i += c.len_utf8();
    }
}

/// Offset of the first run of exactly `run` backticks in `s`.
fn find_tick_run(s: &[u8], run: usize) -> Option<usize> {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'`' {
            let n = s[i..].iter().take_while(|b| **b == b'`').count();
            if n == run {
                return Some(i);
            }
            i += n;
        } else {
            i += 1;
        }
    }
    None
}

/// Offset of the closing quote in `s`; an apostrophe-like closer must not be followed by
/// an alphanumeric (that would be `don't` inside the string).
fn find_closer(s: &str, close: char) -> Option<usize> {
    let apostrophe = close == '\'' || close == '’';
    s.char_indices()
        .filter(|&(_, c)| c == close)
        .map(|(i, _)| i)
        .find(|&i| {
            !apostrophe
                || !s[i + close.len_utf8()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric)
        })
}

fn emit_quoted(content: &str, out: &mut dyn FnMut(u64)) {
    let content = content.trim();
    if !content.is_empty() {
        let mut h = Hasher::new(2);
        h.bytes(content.as_bytes());
        out(h.finish());
    }
}

// ---------------------------------------------------------------------------------------
// Rules 3 and 4: code identifiers and names

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Identifier,
    Name,
    Word,
}

/// Tokens of a text with their kind: (token, kind). See the module doc for the rules.
fn tokens(text: &str, out: &mut dyn FnMut(&str, Kind)) {
    let mut initial = true;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !(c.is_alphanumeric() || c == '_') {
            if matches!(c, '.' | '!' | '?' | ':' | ';' | '\n') {
                initial = true;
            }
            continue;
        }
        let mut end = start + c.len_utf8();
        let (mut colons, mut underscore, mut dots) = (false, c == '_', false);
        loop {
            let rest = &text[end..];
            let mut it = rest.chars();
            let (Some(n), next) = (it.next(), it.next()) else {
                break;
            };
            let word_char = |x: Option<char>| x.is_some_and(|x| x.is_alphanumeric() || x == '_');
            if n.is_alphanumeric() || n == '_' {
                underscore |= n == '_';
                end += n.len_utf8();
            } else if n == '.' && word_char(next) {
                dots = true;
                end += 1;
            } else if (n == '\'' || n == '’') && next.is_some_and(char::is_alphanumeric) {
                end += n.len_utf8();
            } else if n == ':' && next == Some(':') && word_char(rest[2..].chars().next()) {
                colons = true;
                end += 2;
            } else {
                break;
            }
        }
        while chars.peek().is_some_and(|&(i, _)| i < end) {
            chars.next();
        }
        let token = &text[start..end];
        let call = text[end..].starts_with('(');
        let has_alpha = token.chars().any(char::is_alphabetic);
        let kind = if has_alpha
            && (colons
                || underscore
                || call
                || (dots && dotted_identifier(token))
                || lower_camel(token))
        {
            Kind::Identifier
        } else if is_name(token, initial) {
            Kind::Name
        } else {
            Kind::Word
        };
        out(token, kind);
        initial = false;
    }
}

/// `os.path`, `main.rs`: a segment starts with a letter and one is 2+ characters long.
fn dotted_identifier(token: &str) -> bool {
    let mut letter_start = false;
    let mut long = false;
    for seg in token.split('.') {
        letter_start |= seg
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        long |= seg.chars().nth(1).is_some();
    }
    letter_start && long
}

/// Starts lower-case and has an upper-case letter after a lower-case one.
fn lower_camel(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_lowercase) && inner_capital(token)
}

fn inner_capital(token: &str) -> bool {
    token
        .chars()
        .zip(token.chars().skip(1))
        .any(|(a, b)| a.is_lowercase() && b.is_uppercase())
}

fn is_name(token: &str, initial: bool) -> bool {
    let Some(first) = token.chars().next() else {
        return false;
    };
    if !first.is_uppercase() || token == "OK" {
        return false;
    }
    let base = strip_possessive(token);
    if base == "I" || token.starts_with("I'") || token.starts_with("I’") {
        return false;
    }
    // `NASA`, `EC2`, `U.S`: two or more characters and nothing lower-case.
    let acronym = base.chars().nth(1).is_some() && !base.chars().any(char::is_lowercase);
    acronym || inner_capital(token) || !initial
}

fn strip_possessive(token: &str) -> &str {
    ["'s", "’s", "'S"]
        .iter()
        .find_map(|s| token.strip_suffix(s))
        .unwrap_or(token)
}

fn identifiers(text: &str, out: &mut dyn FnMut(u64)) {
    tokens(text, &mut |t, kind| {
        if kind == Kind::Identifier {
            let mut h = Hasher::new(3);
            h.bytes(t.as_bytes());
            out(h.finish());
        }
    });
}

/// The token lower-cased, without a possessive `'s`.
fn folded_hash(token: &str) -> u64 {
    let mut h = Hasher::new(4);
    for c in strip_possessive(token).chars() {
        let c = if c == '’' { '\'' } else { c };
        c.to_lowercase().for_each(|l| h.char(l));
    }
    h.finish()
}

/// Every name of `a` occurs as a token of `b` (case-folded).
fn names_occur(a: &str, b: &str) -> bool {
    let mut names = Bag::new();
    tokens(a, &mut |t, kind| {
        if kind == Kind::Name {
            names.push(folded_hash(t));
        }
    });
    if names.is_empty() {
        return true;
    }
    let mut words = Bag::new();
    tokens(b, &mut |t, _| words.push(folded_hash(t)));
    let all = names.iter().all(|h| words.contains(*h));
    all
}

// ---------------------------------------------------------------------------------------
// Rule 5: negation

fn negations(text: &str) -> usize {
    Words::new(text).filter(|(_, w)| is_negation(w)).count()
}

fn is_negation(word: &str) -> bool {
    let lower_ascii = |suffix: &str| {
        word.len() >= suffix.len()
            && word.is_char_boundary(word.len() - suffix.len())
            && word[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if lower_ascii("n't") || word.ends_with("n’t") || word.ends_with("N’T") {
        return true;
    }
    word.len() <= 8
        && NEGATIONS
            .binary_search_by(|n| {
                n.bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(word.bytes().map(|b| b.to_ascii_lowercase()))
            })
            .is_ok()
}

#[cfg(test)]
mod tests;
