//! The CronJob controller: a Job at each time the schedule names (in `spec.timeZone`, else the
//! machine's zone), unless `suspend`; too late past `startingDeadlineSeconds`, skipped; with a
//! Job still running, another anyway (`Allow`), none (`Forbid`) or the running one replaced
//! (`Replace`); finished Jobs kept up to the history limits. Jobs are named
//! `NAME-<minutes since the epoch of the scheduled time>`, so one time makes one Job however
//! often the controller looks. Upstream: `pkg/controller/cronjob/cronjobv2_controller.go`,
//! `utils.go`.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{civil, Timestamp, ToSpan};
use k8s_openapi::api::batch::v1::{CronJobSpec, Job};
use serde_json::{json, Value};
use tandem_api::cron::{Fields, Schedule};

use crate::naming::Owner;

/// The annotation with the time a Job was scheduled for.
pub const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// A Job the CronJob made, as its status says.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedJob {
    pub name: String,
    pub uid: String,
    pub created_us: i64,
    /// `Some(true)`: Complete; `Some(false)`: Failed; `None`: still running.
    pub succeeded: Option<bool>,
    /// When it finished (its completion time, or its last condition's).
    pub finished_us: Option<i64>,
}

/// What a CronJob asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum CronAction {
    CreateJob(Box<Job>),
    DeleteJob(String),
}

/// One look at a CronJob.
#[derive(Debug, Clone, PartialEq)]
pub struct CronLook {
    pub actions: Vec<CronAction>,
    /// The scheduled time acted on at this look, if any (`status.lastScheduleTime`).
    pub scheduled_us: Option<i64>,
    /// The next scheduled time.
    pub wake_at_us: Option<i64>,
}

/// The first scheduled time strictly after `after_us`, within about five years.
pub fn next_after(schedule: &Schedule, tz: &TimeZone, after_us: i64) -> Option<i64> {
    match schedule {
        Schedule::Every(secs) => Some(after_us + (*secs as i64) * 1_000_000),
        Schedule::Fields(f) => next_field_time(f, tz, after_us),
    }
}

fn next_field_time(f: &Fields, tz: &TimeZone, after_us: i64) -> Option<i64> {
    let start = Timestamp::from_microsecond(after_us)
        .ok()?
        .to_zoned(tz.clone());
    let mut dt = start.datetime();
    // The next whole minute.
    dt = civil::date(dt.year(), dt.month(), dt.day())
        .at(dt.hour(), dt.minute(), 0, 0)
        .checked_add(1.minute())
        .ok()?;
    let limit = dt.checked_add(1830.days()).ok()?;
    while dt < limit {
        let (m, d, h) = (dt.month() as u32, dt.day() as u32, dt.hour() as u32);
        if !f.month_matches(m) {
            let first = dt.date().first_of_month();
            dt = first.checked_add(1.month()).ok()?.at(0, 0, 0, 0);
            continue;
        }
        let weekday = dt.weekday().to_sunday_zero_offset() as u32;
        if !f.day_matches(d, weekday) {
            dt = dt.date().checked_add(1.day()).ok()?.at(0, 0, 0, 0);
            continue;
        }
        if !f.hour_matches(h) {
            dt = dt
                .date()
                .at(dt.hour(), 0, 0, 0)
                .checked_add(1.hour())
                .ok()?;
            continue;
        }
        if !f.minute_matches(dt.minute() as u32) {
            dt = dt.checked_add(1.minute()).ok()?;
            continue;
        }
        // A civil time the zone skips (a DST gap) runs at its later mapping, as cron does.
        let ts = dt.to_zoned(tz.clone()).ok()?.timestamp().as_microsecond();
        if ts > after_us {
            return Some(ts);
        }
        dt = dt.checked_add(1.minute()).ok()?;
    }
    None
}

/// Decides for a CronJob created at `created_us` whose last scheduled Job was at `last_us`.
#[allow(clippy::too_many_arguments)]
pub fn manage(
    owner: &Owner,
    namespace: &str,
    spec: &CronJobSpec,
    tz: &TimeZone,
    created_us: i64,
    last_us: Option<i64>,
    jobs: &[OwnedJob],
    now_us: i64,
) -> CronLook {
    let mut look = CronLook {
        actions: Vec::new(),
        scheduled_us: None,
        wake_at_us: None,
    };
    let Ok(schedule) = Schedule::parse(&spec.schedule) else {
        return look;
    };
    history(spec, jobs, &mut look.actions);
    if spec.suspend == Some(true) {
        return look;
    }
    // The most recent scheduled time not yet acted on, up to now.
    let mut due = None;
    let mut t = last_us.unwrap_or(created_us);
    while let Some(next) = next_after(&schedule, tz, t).filter(|n| *n <= now_us) {
        due = Some(next);
        t = next;
    }
    look.wake_at_us = next_after(&schedule, tz, now_us);
    let Some(scheduled) = due else {
        return look;
    };
    if spec
        .starting_deadline_seconds
        .is_some_and(|d| now_us - scheduled > d.saturating_mul(1_000_000))
    {
        // Missed: too late to start; the next time is waited for.
        return look;
    }
    let active: Vec<&OwnedJob> = jobs.iter().filter(|j| j.succeeded.is_none()).collect();
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => return look,
        Some("Replace") => {
            for j in &active {
                look.actions.push(CronAction::DeleteJob(j.name.clone()));
            }
        }
        _ => {}
    }
    let name = format!("{}-{}", owner.name, scheduled / 60_000_000);
    if jobs.iter().all(|j| j.name != name) {
        look.actions.push(CronAction::CreateJob(Box::new(job(
            owner, namespace, spec, &name, scheduled,
        ))));
    }
    look.scheduled_us = Some(scheduled);
    look
}

/// Finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` go, oldest
/// first.
fn history(spec: &CronJobSpec, jobs: &[OwnedJob], actions: &mut Vec<CronAction>) {
    for (succeeded, limit) in [
        (true, spec.successful_jobs_history_limit.unwrap_or(3)),
        (false, spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&OwnedJob> = jobs
            .iter()
            .filter(|j| j.succeeded == Some(succeeded))
            .collect();
        done.sort_by_key(|j| (j.finished_us.unwrap_or(j.created_us), j.created_us));
        let extra = done.len().saturating_sub(limit.max(0) as usize);
        for j in &done[..extra] {
            actions.push(CronAction::DeleteJob(j.name.clone()));
        }
    }
}

/// The Job of one scheduled time: the job template's metadata and spec, owned by the CronJob.
pub fn job(
    owner: &Owner,
    namespace: &str,
    spec: &CronJobSpec,
    name: &str,
    scheduled_us: i64,
) -> Job {
    let mut metadata = spec.job_template.metadata.clone().unwrap_or_default();
    metadata.name = Some(name.into());
    metadata.namespace = Some(namespace.into());
    metadata.owner_references = Some(vec![owner.reference()]);
    let at = Timestamp::from_microsecond(scheduled_us).unwrap_or(Timestamp::UNIX_EPOCH);
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            SCHEDULED.into(),
            at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
    Job {
        metadata,
        spec: spec.job_template.spec.clone(),
        status: None,
    }
}

fn time(us: i64) -> Value {
    let t = Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH);
    json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The CronJob's status: its running Jobs, the last scheduled time, the last success.
pub fn status(namespace: &str, jobs: &[OwnedJob], last_us: Option<i64>) -> Value {
    let active: Vec<Value> = jobs
        .iter()
        .filter(|j| j.succeeded.is_none())
        .map(|j| json!({"apiVersion": "batch/v1", "kind": "Job", "name": j.name, "namespace": namespace, "uid": j.uid}))
        .collect();
    let mut s = json!({});
    if !active.is_empty() {
        s["active"] = json!(active);
    }
    if let Some(l) = last_us {
        s["lastScheduleTime"] = time(l);
    }
    if let Some(ok) = jobs
        .iter()
        .filter(|j| j.succeeded == Some(true))
        .filter_map(|j| j.finished_us)
        .max()
    {
        s["lastSuccessfulTime"] = time(ok);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().expect("a time").as_microsecond()
    }

    fn spec(schedule: &str, policy: &str) -> CronJobSpec {
        CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some(policy.into()),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(1),
            ..Default::default()
        }
    }

    fn owner() -> Owner {
        Owner {
            api_version: "batch/v1".into(),
            kind: "CronJob".into(),
            name: "nightly".into(),
            uid: "u".into(),
        }
    }

    #[test]
    fn next_times_follow_the_schedule_in_its_zone() {
        let s = Schedule::parse("30 2 * * MON").expect("parses");
        let utc = TimeZone::UTC;
        // Saturday 2026-12-05 → Monday 2026-12-07 02:30 UTC.
        assert_eq!(
            next_after(&s, &utc, at("2026-12-05T16:00:00Z")),
            Some(at("2026-12-07T02:30:00Z"))
        );
        let berlin = TimeZone::get("Europe/Berlin").expect("zoneinfo");
        assert_eq!(
            next_after(&s, &berlin, at("2026-12-05T16:00:00Z")),
            Some(at("2026-12-07T01:30:00Z"))
        );
        let every = Schedule::parse("*/5 * * * *").expect("parses");
        assert_eq!(
            next_after(&every, &utc, at("2026-12-05T16:03:10Z")),
            Some(at("2026-12-05T16:05:00Z"))
        );
        assert_eq!(
            next_after(&every, &utc, at("2026-12-05T16:05:00Z")),
            Some(at("2026-12-05T16:10:00Z"))
        );
        let yearly = Schedule::parse("@yearly").expect("parses");
        assert_eq!(
            next_after(&yearly, &utc, at("2026-12-05T16:00:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
        let feb30 = Schedule::parse("0 0 30 2 *").expect("parses");
        assert_eq!(next_after(&feb30, &utc, at("2026-12-05T16:00:00Z")), None);
    }

    #[test]
    fn one_job_per_scheduled_time_and_the_policies() {
        let s = spec("*/5 * * * *", "Allow");
        let created = at("2026-12-05T16:01:00Z");
        let now = at("2026-12-05T16:11:30Z");
        // Two times passed (16:05, 16:10): only the latest is run, as the controller does.
        let look = manage(
            &owner(),
            "default",
            &s,
            &TimeZone::UTC,
            created,
            None,
            &[],
            now,
        );
        assert_eq!(look.scheduled_us, Some(at("2026-12-05T16:10:00Z")));
        assert_eq!(look.wake_at_us, Some(at("2026-12-05T16:15:00Z")));
        let CronAction::CreateJob(j) = &look.actions[0] else {
            panic!("no job");
        };
        let name = j.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            name,
            format!("nightly-{}", at("2026-12-05T16:10:00Z") / 60_000_000)
        );
        // Looking again makes nothing new.
        let running = OwnedJob {
            name,
            uid: "j".into(),
            created_us: now,
            succeeded: None,
            finished_us: None,
        };
        let again = manage(
            &owner(),
            "default",
            &s,
            &TimeZone::UTC,
            created,
            look.scheduled_us,
            std::slice::from_ref(&running),
            now,
        );
        assert!(again.actions.is_empty());
        // At 16:15 with one still running: Forbid skips, Replace deletes it and makes the next.
        let later = at("2026-12-05T16:15:05Z");
        let forbid = manage(
            &owner(),
            "default",
            &spec("*/5 * * * *", "Forbid"),
            &TimeZone::UTC,
            created,
            look.scheduled_us,
            std::slice::from_ref(&running),
            later,
        );
        assert!(forbid.actions.is_empty() && forbid.scheduled_us.is_none());
        let replace = manage(
            &owner(),
            "default",
            &spec("*/5 * * * *", "Replace"),
            &TimeZone::UTC,
            created,
            look.scheduled_us,
            std::slice::from_ref(&running),
            later,
        );
        assert_eq!(
            replace.actions[0],
            CronAction::DeleteJob(running.name.clone())
        );
        assert!(matches!(replace.actions[1], CronAction::CreateJob(_)));
        // Too late past startingDeadlineSeconds: skipped.
        let mut late = spec("*/5 * * * *", "Allow");
        late.starting_deadline_seconds = Some(10);
        assert!(manage(
            &owner(),
            "default",
            &late,
            &TimeZone::UTC,
            created,
            None,
            &[],
            now
        )
        .actions
        .is_empty());
        // Suspended: nothing.
        let mut off = spec("*/5 * * * *", "Allow");
        off.suspend = Some(true);
        assert!(manage(
            &owner(),
            "default",
            &off,
            &TimeZone::UTC,
            created,
            None,
            &[],
            now
        )
        .actions
        .is_empty());
    }

    #[test]
    fn finished_jobs_beyond_the_history_limits_go_oldest_first() {
        let done = |name: &str, ok: bool, t: i64| OwnedJob {
            name: name.into(),
            uid: name.into(),
            created_us: t,
            succeeded: Some(ok),
            finished_us: Some(t),
        };
        let jobs = [
            done("a", true, 1),
            done("b", true, 2),
            done("c", false, 3),
            done("d", false, 4),
        ];
        let s = spec("@yearly", "Allow");
        let look = manage(
            &owner(),
            "default",
            &s,
            &TimeZone::UTC,
            0,
            Some(0),
            &jobs,
            5,
        );
        assert_eq!(
            look.actions,
            [
                CronAction::DeleteJob("a".into()),
                CronAction::DeleteJob("c".into())
            ]
        );
    }
}
