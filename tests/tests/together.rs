//! Playing together: the shared clock and the metronome, end to end over loopback (the room
//! server, a host and a student as lesson engines, real WebRTC links, the data channel). Both
//! run on this machine's one monotonic clock, so the truth is known: the clock estimates should
//! read 0, and both sides' clicks should come out at the same instant.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};
use tutti_e2e::{engine, one_at_a_time, room_server, wait_for};
use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson, LessonEvent, MetronomeSettings};
use tutti_media::answer::answerer;
use tutti_media::clock::monotonic_ns;
use tutti_media::impair::{ImpairedPath, ImpairmentConfig};
use tutti_media::signal::{
    AudioSink, AudioSource, ClickTrain, MemorySink, Recorded, Silence, Sine,
};
use tutti_media::{CHANNELS, FrameDuration, MusicConfig, SAMPLE_RATE};
use tutti_protocol::JoinRole;

/// Onsets in a recording (first sample over a small threshold after 50 ms of quiet), in
/// samples.
fn onsets(samples: &[f32]) -> Vec<usize> {
    let left: Vec<f32> = samples.iter().step_by(CHANNELS).copied().collect();
    tutti_media::analysis::onsets(&left, 0.02, 50)
}

/// When a sample of a clock-paced sink was played, ns: the playout loop writes sample `n` at
/// its start + n / 48 kHz, never before; a block's write is late by however long the thread
/// took to wake. The earliest of (write time − position) is the start, to within a wake-up.
fn heard_at(r: &Recorded) -> impl Fn(usize) -> f64 + use<> {
    let start = r
        .blocks
        .iter()
        .map(|(pos, at)| monotonic_ns(*at) as f64 - *pos as f64 * 1e9 / f64::from(SAMPLE_RATE))
        .fold(f64::INFINITY, f64::min);
    move |n| start + n as f64 * 1e9 / f64::from(SAMPLE_RATE)
}

struct Together {
    server: tutti_server::RunningServer,
    host: Lesson,
    student: Lesson,
    host_ears: MemorySink,
    student_ears: MemorySink,
}

impl Together {
    async fn leave(self) {
        self.student.leave().await;
        self.host.leave().await;
        self.server.shutdown().await;
    }
}

/// Host and student in a lesson, each recording what it plays, the student's media through
/// `impairment` and sending `student_plays`, once the student hears the host.
async fn together(
    impairment: Option<&str>,
    student_plays: Box<dyn AudioSource>,
) -> (Together, Option<ImpairedPath>) {
    together_with(impairment, Box::new(Silence), move |ears| {
        (student_plays, Box::new(ears) as Box<dyn AudioSink>)
    })
    .await
}

/// As `together`, the host sending `host_plays`, and the student's microphone and speaker made
/// by `student` around the recording of what it plays.
async fn together_with(
    impairment: Option<&str>,
    host_plays: Box<dyn AudioSource>,
    student_devices: impl FnOnce(MemorySink) -> (Box<dyn AudioSource>, Box<dyn AudioSink>),
) -> (Together, Option<ImpairedPath>) {
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let server = room_server().await;
    let proxy = match impairment {
        Some(spec) => Some(
            ImpairedPath::start(ImpairmentConfig::parse(spec).unwrap())
                .await
                .unwrap(),
        ),
        None => None,
    };
    let mut host = Lesson::host(
        engine(&server, "김선생", music, AdmitPolicy::Everyone),
        "Duets",
    )
    .await
    .unwrap();
    let host_ears = MemorySink::default();
    host.start_audio(host_plays, Box::new(host_ears.clone()), music)
        .unwrap();
    let student_cfg = EngineConfig {
        candidate_rewrite: proxy.as_ref().map(|p| p.rewriter()),
        ..engine(&server, "Omar", music, AdmitPolicy::Manual)
    };
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(student_cfg, &code, JoinRole::Student)
        .await
        .unwrap();
    let student_ears = MemorySink::default();
    let (student_plays, student_hears) = student_devices(student_ears.clone());
    student
        .start_audio(student_plays, student_hears, music)
        .unwrap();
    wait_for(&mut student, Duration::from_secs(40), |e| {
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    (
        Together {
            server,
            host,
            student,
            host_ears,
            student_ears,
        },
        proxy,
    )
}

/// Waits until the student's estimate of the host's clock has had `settle` to converge; its
/// offset (truth: 0) and stated uncertainty, ms.
async fn clock_of_host(student: &Lesson, settle: Duration) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = student.peer_stats().await;
        if stats.first().is_some_and(|s| s.clock_offset_ms.is_some()) {
            tokio::time::sleep(settle).await;
            let s = student.peer_stats().await.remove(0);
            return (s.clock_offset_ms.unwrap(), s.clock_uncertainty_ms.unwrap());
        }
        assert!(Instant::now() < deadline, "no clock estimate in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The host starts the metronome (the clock exchange then runs at ten pings a second); once
/// the student has it.
async fn start_metronome(t: &mut Together) {
    t.host
        .handle()
        .set_metronome(Some(MetronomeSettings {
            bpm: 150.0,
            accents: Vec::new(),
            count_in_bars: 1,
        }))
        .unwrap();
    wait_for(&mut t.student, Duration::from_secs(10), |e| {
        matches!(e, LessonEvent::Metronome(Some(_)))
    })
    .await;
}

/// Records `seconds` of both sides' clicks and pairs them by time: the difference in ms
/// (student's minus host's) for every click the host heard.
async fn record_clicks(t: &mut Together, seconds: u64) -> Vec<f64> {
    t.host_ears.take();
    t.student_ears.take();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (h, s) = (t.host_ears.take(), t.student_ears.take());
    let (h_at, s_at) = (heard_at(&h), heard_at(&s));
    // A click at either end of the host's recording may have the student's just outside the
    // student's (the two are taken one after the other).
    let edge = SAMPLE_RATE as usize / 10;
    let frames = h.samples.len() / CHANNELS;
    let host_clicks: Vec<f64> = onsets(&h.samples)
        .into_iter()
        .filter(|&n| n > edge && n + edge < frames)
        .map(h_at)
        .collect();
    let student_clicks: Vec<f64> = onsets(&s.samples).into_iter().map(s_at).collect();
    assert!(
        host_clicks.len() as u64 >= seconds * 2,
        "the host heard {} clicks in {seconds} s",
        host_clicks.len()
    );
    host_clicks
        .iter()
        .map(|h| {
            student_clicks
                .iter()
                .map(|s| (s - h) / 1e6)
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(f64::INFINITY)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teacher_s_tuner_reads_the_student_s_note_through_the_lesson() {
    let _turn = one_at_a_time().await;
    // The open G string, a little flat (195 Hz is −8.9 cents from G3).
    let (t, _) = together(None, Box::new(Sine::new(195.0, 0.3))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Twenty readings, a tenth of a second apart, as the screen asks.
    let mut heard = Vec::new();
    let mut host_plays = Vec::new();
    for _ in 0..20 {
        let r = t.host.handle().pitches(440.0);
        host_plays.push(r[0].1);
        heard.push(r[1].1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mine = t.student.handle().pitches(440.0);
    t.leave().await;
    let cents: Vec<f64> = heard.iter().flatten().map(|p| p.cents).collect();
    eprintln!(
        "the host reads the student at {cents:.2?} cents; the student itself {:?}",
        mine[0].1
    );
    assert!(
        host_plays.iter().all(Option::is_none),
        "the host plays nothing"
    );
    assert!(
        heard
            .iter()
            .flatten()
            .all(|p| (p.name(), p.octave) == ("G", 3))
    );
    // A reading whose 43 ms hold a repaired frame is off (the received sound's own glitch);
    // most are exact, and the median is what the screen shows.
    let close = cents.iter().filter(|c| (**c + 8.9).abs() < 1.0).count();
    assert!(
        close >= 16,
        "{close} of 20 readings within a cent: {cents:?}"
    );
    let mut sorted = cents.clone();
    sorted.sort_by(f64::total_cmp);
    assert!((sorted[sorted.len() / 2] + 8.9).abs() < 0.5, "{sorted:?}");
    let own = mine[0].1.expect("the student's own note");
    assert!((own.cents + 8.9).abs() < 1.0, "{own:?}");
}

fn p99_abs(v: &[f64]) -> f64 {
    let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    a.sort_by(f64::total_cmp);
    a[(a.len() * 99 / 100).min(a.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_the_clocks_agree_and_both_metronomes_click_together() {
    let _turn = one_at_a_time().await;
    let (mut t, _) = together(None, Box::new(Silence)).await;
    start_metronome(&mut t).await;
    let (offset, uncertainty) = clock_of_host(&t.student, Duration::from_secs(3)).await;
    let diffs = record_clicks(&mut t, 6).await;
    let host_view = t.host.peer_stats().await.remove(0);
    t.leave().await;
    eprintln!(
        "loopback: offset {offset:.3} ± {uncertainty:.3} ms, the host's view {:?} ms; clicks {diffs:.3?} ms",
        host_view.clock_offset_ms
    );
    assert!(offset.abs() < 1.0, "offset {offset} ms (truth 0)");
    assert!(host_view.clock_offset_ms.unwrap().abs() < 1.0);
    // Every click of the host's has the student's beside it.
    let p99 = p99_abs(&diffs);
    assert!(p99 < 1.0, "clicks apart by {p99} ms p99: {diffs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_70_plus_minus_10_ms_each_way_the_clicks_still_coincide() {
    let _turn = one_at_a_time().await;
    let (mut t, proxy) = together(Some("delay=70,jitter=10"), Box::new(Silence)).await;
    start_metronome(&mut t).await;
    let (offset, uncertainty) = clock_of_host(&t.student, Duration::from_secs(5)).await;
    let rtt = t.student.peer_stats().await.remove(0).rtt_ms;
    let diffs = record_clicks(&mut t, 6).await;
    t.leave().await;
    drop(proxy);
    eprintln!(
        "70 ± 10 ms: round trip {rtt:?} ms, offset {offset:.3} ± {uncertainty:.3} ms; clicks {diffs:.3?} ms"
    );
    // At least (70 − 10) × 2 (one ICE measurement, each leg anywhere in ±10; CI measured
    // 129.9); loopback alone is under a millisecond.
    assert!(rtt.unwrap() > 115.0, "the path is delayed: {rtt:?}");
    assert!(offset.abs() < 2.0, "offset {offset} ms (truth 0)");
    let p99 = p99_abs(&diffs);
    assert!(p99 < 2.0, "clicks apart by {p99} ms p99: {diffs:?}");
}

/// Leader–follower across 70 ± 10 ms each way: the teacher plays clicks, the student answers
/// each when it hears it (a pupil in perfect time with what reaches them, 80 ms and more after
/// the teacher played). In the teacher's aligned clip the answers fall on the teacher's clicks;
/// unshifted they would be a whole delay late. Fails with a shift of the wrong sign or none, a
/// stream placed by when it arrived rather than by its sender's clock, or a delay measured
/// from the wrong end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_leader_follower_mode_the_student_s_answers_fall_on_the_teacher_s_clicks() {
    let _turn = one_at_a_time().await;
    let (t, proxy) = together_with(
        Some("delay=70,jitter=10"),
        Box::new(ClickTrain::new(400, 0.8)),
        |ears| {
            let (ear, mic) = answerer(ears);
            (
                Box::new(mic) as Box<dyn AudioSource>,
                Box::new(ear) as Box<dyn AudioSink>,
            )
        },
    )
    .await;
    let student = t.host.peer_stats().await.remove(0).peer;
    let teacher = t.host.handle();
    teacher.set_leader_follower(Some(&student));
    let deadline = Instant::now() + Duration::from_secs(30);
    while teacher.duet().and_then(|d| d.they_hear_after).is_none() {
        assert!(
            Instant::now() < deadline,
            "the student never said how late it hears us"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The clock exchange settles, the answers pile up.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let status = teacher.duet().unwrap();
    let (clip, alignment) = teacher.duet_clip(6.0).unwrap();
    let student_view = t.student.peer_stats().await.remove(0);
    t.leave().await;
    drop(proxy);
    let ms = |n: usize| n as f64 * 1e3 / f64::from(SAMPLE_RATE);
    // (A click in the clip's last 20 ms may have its answer just beyond it.)
    let own: Vec<usize> = tutti_media::analysis::onsets(&clip.own, 0.02, 50)
        .into_iter()
        .filter(|&n| n + 960 < clip.len())
        .collect();
    let theirs = tutti_media::analysis::onsets(&clip.theirs, 0.02, 50);
    let diffs: Vec<f64> = own
        .iter()
        .filter_map(|&a| {
            theirs
                .iter()
                .map(|&b| ms(b) - ms(a))
                .min_by(|x, y| x.abs().total_cmp(&y.abs()))
        })
        .collect();
    eprintln!(
        "leader-follower: {status:?}; the student measured {:?} ms; {} clicks, {} answers; apart {diffs:.2?} ms",
        student_view.heard_after_ms,
        own.len(),
        theirs.len()
    );
    let heard_after = alignment.heard_after_ns / 1e6;
    // What the student measured is what the teacher placed by, and it is the delayed path's.
    assert!(
        heard_after > 70.0,
        "the student hears us {heard_after} ms late"
    );
    assert!(
        (heard_after - student_view.heard_after_ms.unwrap()).abs() < 10.0,
        "told {heard_after} ms, measured {:?}",
        student_view.heard_after_ms
    );
    assert!(
        own.len() >= 12,
        "{} of the teacher's clicks in 6 s",
        own.len()
    );
    assert!(
        theirs.len() >= own.len() - 2,
        "{} answers to {} clicks",
        theirs.len(),
        own.len()
    );
    // The goal is 3 ms (idle runs here: 2.0–2.9 ms); the bound leaves room for a busy
    // machine and still fails a single shift for the whole clip (7.4 ms seen) or none (~100).
    let p99 = p99_abs(&diffs);
    assert!(
        p99 <= 5.0,
        "answers {p99} ms from the clicks p99: {diffs:?}"
    );
}
