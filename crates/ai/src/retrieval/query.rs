//! Understanding a shopper's query before matching it: price bounds ("under $200",
//! "between 50 and 100 dollars", "over $1000", "$20-$40", "around $100"), price intent
//! ("cheap", "premium") and the filler words that carry no product meaning ("I'm looking
//! for something…"). What is understood is removed from the text, so "under $200" never
//! has to match a product's words.

use contracts::Money;

/// Whether the shopper wants the cheaper or the dearer end of what matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceIntent {
    /// "cheap", "budget", "affordable".
    Low,
    /// "premium", "luxury", "high-end".
    High,
}

impl PriceIntent {
    /// `low` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceIntent::Low => "low",
            PriceIntent::High => "high",
        }
    }
}

/// What a query says besides the product words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Understood {
    /// The query without the price phrases and intent words.
    pub text: String,
    /// Lowest acceptable price (inclusive).
    pub min_price: Option<Money>,
    /// Highest acceptable price (inclusive).
    pub max_price: Option<Money>,
    /// Cheaper or dearer end.
    pub intent: Option<PriceIntent>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// An amount in cents; `dollar` when written with `$` or followed by a currency word.
    Num {
        cents: i64,
        dollar: bool,
    },
    Dash,
    Less,
    Greater,
}

#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Units that make a number something other than a price ("under 5 lbs").
const UNITS: &[&str] = &[
    "lb", "lbs", "pound", "pounds", "kg", "g", "oz", "ounce", "ounces", "inch", "inches", "in", "cm", "mm", "m", "ft",
    "feet", "gb", "tb", "mb", "w", "watt", "watts", "mah", "l", "liter", "liters", "litre", "litres", "ml", "qt",
    "quart", "quarts", "piece", "pieces", "pack", "person", "people", "hours", "hour", "minutes", "days", "years",
    "year", "month", "months", "x", "percent", "degrees", "mp", "hz", "v", "volt", "volts",
];
const CURRENCY: &[&str] = &["dollar", "dollars", "usd", "bucks", "buck"];

/// Scans `text` (already lower-case) into words, amounts and comparison symbols.
fn scan(text: &str) -> Vec<Spanned> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(p, _)| *p);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c == '$' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit()) {
            let (cents, next) = number(&chars, i + 1);
            if let Some(cents) = cents {
                out.push(Spanned { tok: Tok::Num { cents, dollar: true }, start, end: end_of(next) });
            }
            i = next;
        } else if c.is_ascii_digit() {
            let (cents, next) = number(&chars, i);
            // Digits running into letters are a model name ("1000xm5"), not an amount.
            if chars.get(next).is_some_and(|(_, d)| d.is_alphanumeric()) || cents.is_none() {
                let mut j = i;
                while chars.get(j).is_some_and(|(_, d)| d.is_alphanumeric()) {
                    j += 1;
                }
                let j = j.max(next);
                out.push(Spanned { tok: Tok::Word(text[start..end_of(j)].to_owned()), start, end: end_of(j) });
                i = j;
            } else if let Some(cents) = cents {
                out.push(Spanned { tok: Tok::Num { cents, dollar: false }, start, end: end_of(next) });
                i = next;
            }
        } else if c.is_alphanumeric() || c == '\'' {
            let mut j = i;
            while chars.get(j).is_some_and(|(_, d)| d.is_alphanumeric() || *d == '\'') {
                j += 1;
            }
            let word = text[start..end_of(j)].trim_matches('\'').to_owned();
            if !word.is_empty() {
                out.push(Spanned { tok: Tok::Word(word), start, end: end_of(j) });
            }
            i = j;
        } else {
            let tok = match c {
                '-' | '–' | '—' => Some(Tok::Dash),
                '<' => Some(Tok::Less),
                '>' => Some(Tok::Greater),
                _ => None,
            };
            if let Some(tok) = tok {
                out.push(Spanned { tok, start, end: end_of(i + 1) });
            }
            i += 1;
        }
    }
    // A currency word after an amount makes it a price and belongs to its span.
    let mut merged: Vec<Spanned> = Vec::with_capacity(out.len());
    for s in out {
        if let (Tok::Word(w), Some(Spanned { tok: Tok::Num { dollar, .. }, end, .. })) = (&s.tok, merged.last_mut())
            && CURRENCY.contains(&w.as_str())
        {
            *dollar = true;
            *end = s.end;
            continue;
        }
        merged.push(s);
    }
    merged
}

/// Reads `1,299.99`, `200`, `1.5k` from `chars[i..]`: cents (None when out of range) and
/// the index after it.
fn number(chars: &[(usize, char)], mut i: usize) -> (Option<i64>, usize) {
    let mut digits = String::new();
    while let Some((_, c)) = chars.get(i) {
        if c.is_ascii_digit() {
            digits.push(*c);
            i += 1;
        } else if *c == ','
            && chars.get(i + 1..i + 4).is_some_and(|g| g.iter().all(|(_, d)| d.is_ascii_digit()))
            && !chars.get(i + 4).is_some_and(|(_, d)| d.is_ascii_digit())
        {
            i += 1;
        } else if *c == '.' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit()) && !digits.contains('.') {
            digits.push('.');
            i += 1;
        } else {
            break;
        }
    }
    let mut value: Option<f64> = digits.parse().ok();
    if let Some((_, 'k')) = chars.get(i)
        && !chars.get(i + 1).is_some_and(|(_, d)| d.is_alphanumeric())
    {
        value = value.map(|v| v * 1000.0);
        i += 1;
    }
    let cents = value.filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9).map(|v| (v * 100.0).round() as i64);
    (cents, i)
}

#[derive(Clone, Copy, PartialEq)]
enum Bound {
    /// At most, inclusive.
    AtMost,
    /// Strictly below.
    Below,
    /// At least, inclusive.
    AtLeast,
    /// Strictly above.
    Above,
    /// Roughly (±20 %).
    Around,
}

const PHRASES: &[(&[&str], Bound)] = &[
    (&["less", "than"], Bound::Below),
    (&["cheaper", "than"], Bound::Below),
    (&["lower", "than"], Bound::Below),
    (&["under"], Bound::Below),
    (&["below"], Bound::Below),
    (&["beneath"], Bound::Below),
    (&["no", "more", "than"], Bound::AtMost),
    (&["not", "more", "than"], Bound::AtMost),
    (&["up", "to"], Bound::AtMost),
    (&["at", "most"], Bound::AtMost),
    (&["max"], Bound::AtMost),
    (&["maximum"], Bound::AtMost),
    (&["within"], Bound::AtMost),
    (&["more", "than"], Bound::Above),
    (&["higher", "than"], Bound::Above),
    (&["greater", "than"], Bound::Above),
    (&["over"], Bound::Above),
    (&["above"], Bound::Above),
    (&["at", "least"], Bound::AtLeast),
    (&["min"], Bound::AtLeast),
    (&["minimum"], Bound::AtLeast),
    (&["starting", "at"], Bound::AtLeast),
    (&["from"], Bound::AtLeast),
    (&["around"], Bound::Around),
    (&["about"], Bound::Around),
    (&["approximately"], Bound::Around),
    (&["roughly"], Bound::Around),
    (&["approx"], Bound::Around),
];

const LOW_WORDS: &[&str] = &["cheap", "cheaper", "cheapest", "budget", "affordable", "inexpensive", "bargain"];
const HIGH_WORDS: &[&str] = &["premium", "luxury", "luxurious", "expensive", "upscale", "flagship", "pricey"];

/// Reads the price bounds and intent out of `query`.
pub fn understand(query: &str) -> Understood {
    let lower = query.to_lowercase();
    let toks = scan(&lower);
    let mut removed: Vec<(usize, usize)> = Vec::new();
    let mut out = Understood::default();
    let mut min: Option<i64> = None;
    let mut max: Option<i64> = None;
    let word = |i: usize| match toks.get(i).map(|s| &s.tok) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let amount = |i: usize| match toks.get(i) {
        Some(Spanned { tok: Tok::Num { cents, dollar }, end, .. }) => {
            // "under 5 lbs" is a weight, not a price.
            let unit = word(i + 1).is_some_and(|w| UNITS.contains(&w));
            (!unit).then_some((*cents, *dollar, *end))
        }
        _ => None,
    };
    let is_dash = |i: usize| matches!(toks.get(i).map(|s| &s.tok), Some(Tok::Dash));
    let mut i = 0;
    while i < toks.len() {
        // A range: "between 50 and 100", "from $50 to $100", "50-100 dollars", "$50 to $100".
        let lead = match word(i) {
            Some("between" | "from") => 1,
            _ => 0,
        };
        if let Some((low, low_dollar, _)) = amount(i + lead)
            && (is_dash(i + lead + 1) || matches!(word(i + lead + 1), Some("and" | "to")))
            && let Some((high, high_dollar, end)) = amount(i + lead + 2)
            && (lead == 1 || low_dollar || high_dollar)
            && low <= high
        {
            min = Some(low);
            max = Some(high);
            removed.push((toks[i].start, end));
            i += lead + 3;
            continue;
        }
        if matches!(toks.get(i).map(|s| &s.tok), Some(Tok::Less | Tok::Greater))
            && let Some((cents, _, end)) = amount(i + 1)
        {
            if toks[i].tok == Tok::Less {
                max = Some(cents);
            } else {
                min = Some(cents);
            }
            removed.push((toks[i].start, end));
            i += 2;
            continue;
        }
        let phrase = PHRASES.iter().find(|(words, _)| words.iter().enumerate().all(|(k, w)| word(i + k) == Some(*w)));
        if let Some((words, bound)) = phrase
            && let Some((cents, _, end)) = amount(i + words.len())
        {
            match bound {
                Bound::AtMost => max = Some(cents),
                Bound::Below => max = Some((cents - 1).max(0)),
                Bound::AtLeast => min = Some(cents),
                Bound::Above => min = Some(cents + 1),
                Bound::Around => {
                    min = Some(cents * 8 / 10);
                    max = Some(cents * 12 / 10);
                }
            }
            removed.push((toks[i].start, end));
            i += words.len() + 1;
            continue;
        }
        if let Some((cents, true, end)) = amount(i) {
            // A bare price ("$50 headphones") means about that much.
            min = Some(cents * 8 / 10);
            max = Some(cents * 12 / 10);
            removed.push((toks[i].start, end));
            i += 1;
            continue;
        }
        match word(i) {
            Some(w) if LOW_WORDS.contains(&w) => {
                out.intent = Some(PriceIntent::Low);
                removed.push((toks[i].start, toks[i].end));
            }
            Some(w) if HIGH_WORDS.contains(&w) => {
                out.intent = Some(PriceIntent::High);
                removed.push((toks[i].start, toks[i].end));
            }
            Some("high") if word(i + 1) == Some("end") || (is_dash(i + 1) && word(i + 2) == Some("end")) => {
                let last = if word(i + 1) == Some("end") { i + 1 } else { i + 2 };
                out.intent = Some(PriceIntent::High);
                removed.push((toks[i].start, toks[last].end));
                i = last;
            }
            Some("low") if matches!(word(i + 1), Some("cost" | "priced" | "price")) => {
                out.intent = Some(PriceIntent::Low);
                removed.push((toks[i].start, toks[i + 1].end));
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        // Contradictory bounds ("over $500 under $100"): keep the upper one.
        min = None;
    }
    out.min_price = min.map(Money::from_cents);
    out.max_price = max.map(Money::from_cents);
    let mut text = String::with_capacity(lower.len());
    let mut at = 0;
    for (start, end) in removed {
        if start >= at {
            text.push_str(&lower[at..start]);
            text.push(' ');
            at = end;
        }
    }
    text.push_str(&lower[at..]);
    out.text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    out
}

/// Words that say nothing about which product is wanted.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "been",
    "best",
    "better",
    "but",
    "buy",
    "by",
    "can",
    "could",
    "do",
    "does",
    "doing",
    "dollar",
    "dollars",
    "each",
    "else",
    "find",
    "for",
    "from",
    "get",
    "give",
    "good",
    "got",
    "great",
    "have",
    "has",
    "he",
    "hello",
    "help",
    "her",
    "hers",
    "hey",
    "hi",
    "him",
    "his",
    "how",
    "i",
    "i'd",
    "i'm",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "it's",
    "item",
    "items",
    "just",
    "kind",
    "like",
    "looking",
    "look",
    "me",
    "mine",
    "more",
    "most",
    "much",
    "my",
    "need",
    "needs",
    "nice",
    "of",
    "on",
    "one",
    "ones",
    "or",
    "our",
    "please",
    "price",
    "priced",
    "prices",
    "product",
    "products",
    "recommend",
    "recommendation",
    "recommendations",
    "search",
    "searching",
    "she",
    "should",
    "show",
    "so",
    "some",
    "something",
    "sort",
    "stuff",
    "suggest",
    "thanks",
    "thank",
    "that",
    "the",
    "their",
    "them",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "to",
    "too",
    "under",
    "us",
    "usd",
    "very",
    "want",
    "wanted",
    "wants",
    "was",
    "we",
    "well",
    "what",
    "whats",
    "which",
    "who",
    "will",
    "with",
    "would",
    "you",
    "your",
    "you're",
    "store",
    "shop",
    "buying",
    "purchase",
    "options",
    "option",
    "available",
    "sell",
    "selling",
    "sells",
    "got",
    "any",
    "really",
    "which",
    "where",
    "cost",
    "costs",
    "costing",
    "cheap",
    "around",
    "maybe",
    "other",
    "another",
    "new",
    "use",
];

/// Verbs and other words that say what the shopper wants to do rather than which product:
/// they count little towards whether a product covers the query ("carry my laptop" is
/// about the laptop), so a catalog that never says "carry" can still answer.
pub const WEAK_WORDS: &[&str] = &[
    "carry", "carrying", "learn", "learning", "stay", "staying", "keep", "keeping", "make", "making", "rid", "block",
    "hold", "holding", "take", "taking", "bring", "wear", "wearing", "protect", "fix", "play", "playing", "start",
    "try", "enjoy", "love", "loves", "likes", "gift", "present", "everyday", "daily", "perfect", "ideal", "works",
    "working", "feel", "stop", "avoid", "help", "helps", "when", "while", "during", "without",
];

/// Whether `word` says little about which product is wanted.
pub fn is_weak_word(word: &str) -> bool {
    WEAK_WORDS.contains(&word)
}

/// Whether `word` (lower-case) carries no product meaning.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bounds(q: &str) -> (Option<String>, Option<String>, String) {
        let u = understand(q);
        (u.min_price.map(|m| m.to_string()), u.max_price.map(|m| m.to_string()), u.text)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn reads_upper_bounds() {
        assert_eq!(bounds("wireless headphones under $200"), (None, s("199.99"), "wireless headphones".into()));
        assert_eq!(bounds("laptop up to 1,500 dollars"), (None, s("1500.00"), "laptop".into()));
        assert_eq!(bounds("mouse < 30"), (None, s("30.00"), "mouse".into()));
        assert_eq!(bounds("a tent for less than $99.50"), (None, s("99.49"), "a tent for".into()));
    }

    #[test]
    fn reads_lower_bounds_and_ranges() {
        assert_eq!(bounds("tv over $1000"), (s("1000.01"), None, "tv".into()));
        assert_eq!(bounds("shoes between 50 and 100 dollars"), (s("50.00"), s("100.00"), "shoes".into()));
        assert_eq!(bounds("blender $50-$100"), (s("50.00"), s("100.00"), "blender".into()));
        assert_eq!(bounds("from $20 to $40 mug"), (s("20.00"), s("40.00"), "mug".into()));
        assert_eq!(bounds("camera 1.5k max"), (None, None, "camera 1.5k max".into()));
        assert_eq!(bounds("camera max 1.5k"), (None, s("1500.00"), "camera".into()));
        assert_eq!(bounds("around $100 speaker"), (s("80.00"), s("120.00"), "speaker".into()));
    }

    #[test]
    fn leaves_model_numbers_and_units_alone() {
        assert_eq!(bounds("sony wh-1000xm5"), (None, None, "sony wh-1000xm5".into()));
        assert_eq!(bounds("dumbbells under 20 lbs"), (None, None, "dumbbells under 20 lbs".into()));
        assert_eq!(bounds("iphone 15 pro"), (None, None, "iphone 15 pro".into()));
    }

    #[test]
    fn reads_price_intent() {
        let u = understand("cheap running shoes");
        assert_eq!((u.intent, u.text.as_str()), (Some(PriceIntent::Low), "running shoes"));
        let u = understand("a high-end espresso machine");
        assert_eq!((u.intent, u.text.as_str()), (Some(PriceIntent::High), "a espresso machine"));
    }
}
