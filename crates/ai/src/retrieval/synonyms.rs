//! Synonym groups: words and phrases a shopper uses interchangeably ("earbuds" and "in-ear
//! headphones"). A query word found in a group also matches the group's other members, at a
//! slightly lower weight than the word itself. The built-in list covers common shopping
//! vocabulary; operators add groups with a file (`AI_SYNONYMS_FILE`): one group per line,
//! members separated by commas, `#` starts a comment.

/// One group of interchangeable words or phrases, lower-case.
pub type Group = Vec<String>;

/// Every synonym group in force.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    groups: Vec<Group>,
}

impl Synonyms {
    /// Wraps `groups`.
    pub fn new(groups: Vec<Group>) -> Self {
        Synonyms { groups }
    }

    /// The groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}

/// Parses the operator's file format; the error names the line.
pub fn parse(text: &str) -> Result<Vec<Group>, String> {
    let mut groups = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let members: Vec<String> = line.split(',').map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty()).collect();
        if members.len() < 2 {
            return Err(format!("line {}: a group needs at least two members separated by commas", number + 1));
        }
        if members.iter().any(|m| m.chars().count() > 60) {
            return Err(format!("line {}: members are at most 60 characters", number + 1));
        }
        groups.push(members);
    }
    Ok(groups)
}

/// The built-in groups: everyday shopping vocabulary, deliberately conservative (a synonym
/// that is only sometimes right costs precision everywhere it fires).
pub fn builtin() -> Vec<Group> {
    const GROUPS: &[&[&str]] = &[
        &["earbuds", "in-ear headphones", "earphones", "in-ear buds"],
        &["headphones", "headset", "over-ear headphones"],
        &["laptop", "notebook computer"],
        &["phone", "smartphone", "mobile phone", "cell phone", "cellphone"],
        &["tv", "television"],
        &["sofa", "couch", "settee"],
        &["sneakers", "trainers"],
        &["mug", "cup"],
        &["jogging", "running"],
        &["jog", "run"],
        // Irregular plurals the stemmer does not reduce.
        &["mouse", "mice"],
        &["knife", "knives"],
        &["shelf", "shelves"],
        &["tooth", "teeth"],
        &["foot", "feet"],
        &["leaf", "leaves"],
        &["man", "men"],
        &["woman", "women"],
        &["thermos", "vacuum flask", "insulated bottle"],
        &["charger", "power adapter", "charging"],
        &["power bank", "portable charger", "battery pack"],
        &["e-reader", "ereader", "ebook reader"],
        &["bike", "bicycle"],
        &["jacket", "coat"],
        &["pants", "trousers"],
        &["hoodie", "sweatshirt"],
        &["kids", "children", "child"],
        &["speaker", "loudspeaker"],
        &["vacuum", "vacuum cleaner", "hoover"],
        &["fridge", "refrigerator"],
        &["stroller", "pushchair", "pram"],
        &["flashlight", "torch"],
        &["sweater", "jumper", "pullover"],
        &["keep hot", "keep warm", "insulated", "thermal"],
        &["keep cold", "keep cool", "insulated"],
        &["notebook", "journal"],
        &["pc", "computer", "desktop"],
        &["monitor", "display", "screen"],
        &["camera", "cam"],
    ];
    GROUPS.iter().map(|g| g.iter().map(|m| (*m).to_owned()).collect()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_names_bad_lines() {
        let groups = parse("# kitchen\nSkillet, frying pan ,fry pan\n\nhob, stove # uk\n");
        assert_eq!(
            groups,
            Ok(vec![vec!["skillet".into(), "frying pan".into(), "fry pan".into()], vec!["hob".into(), "stove".into()]])
        );
        assert_eq!(
            parse("a, b\nlonely\n"),
            Err("line 2: a group needs at least two members separated by commas".into())
        );
    }
}
