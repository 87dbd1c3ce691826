//! `spec.successPolicy` of an Indexed Job: the Job succeeds as soon as one
//! rule is met, even with indexes still running (those are then stopped).
//! A rule names `succeededIndexes` (all of them must have succeeded), a
//! `succeededCount` (that many must have), or both (that many of the named
//! ones).

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::parse_indexes;

/// The index of the first rule `completed` meets, if any.
pub fn matched_rule(policy: Option<&SuccessPolicy>, completed: &BTreeSet<i32>) -> Option<usize> {
    policy?.rules.iter().position(
        |rule| match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(indexes), count) => {
                let wanted = parse_indexes(indexes);
                let done = wanted.intersection(completed).count();
                match count {
                    Some(c) => done >= c.max(0) as usize,
                    None => done == wanted.len(),
                }
            }
            (None, Some(c)) => completed.len() >= c.max(0) as usize,
            (None, None) => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> SuccessPolicy {
        serde_json::from_value(v).expect("policy")
    }

    #[test]
    fn rules_on_indexes_and_counts() {
        let p = policy(json!({"rules": [
            {"succeededIndexes": "0,2-3"},
            {"succeededCount": 3},
            {"succeededIndexes": "4-9", "succeededCount": 2}
        ]}));
        let set = |v: &[i32]| v.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(matched_rule(Some(&p), &set(&[0, 2])), None);
        assert_eq!(matched_rule(Some(&p), &set(&[0, 2, 3])), Some(0));
        assert_eq!(matched_rule(Some(&p), &set(&[1, 5, 7])), Some(1));
        assert_eq!(matched_rule(Some(&p), &set(&[5, 9])), Some(2));
        assert_eq!(matched_rule(None, &set(&[0])), None);
    }
}
