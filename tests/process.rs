//! The Rust API of `Process`, end to end (the C suite covers the C boundary).

use std::time::{Duration, Instant};

use processing::deadline::Deadline;
use processing::process::{self, Process};
use processing::ErrorKind;

fn forever() -> Deadline {
    Deadline::from_timeout(-1.0).unwrap()
}

#[test]
fn exit_codes_follow_python() {
    let cases: [(fn() -> i32, i32); 3] = [
        (|| 0, 0),
        (|| 7, 7),
        (
            || {
                // SAFETY: raising a signal in the child only. (Not SIGSEGV: Rust's
                // runtime handles that one to detect stack overflows.)
                unsafe { libc::raise(libc::SIGUSR1) };
                0
            },
            -libc::SIGUSR1,
        ),
    ];
    for (target, expected) in cases {
        let p = Process::new(Some(Box::new(target)));
        p.start().unwrap();
        p.join(forever()).unwrap();
        assert_eq!(p.exitcode().unwrap(), expected);
        assert!(!p.is_alive());
    }
}

#[test]
fn lifecycle_errors_are_wrong_state() {
    let p = Process::new(Some(Box::new(|| 0)));
    assert_eq!(p.join(forever()).unwrap_err().kind(), ErrorKind::WrongState);
    assert_eq!(p.exitcode().unwrap_err().kind(), ErrorKind::WrongState);
    p.start().unwrap();
    assert_eq!(p.start().unwrap_err().kind(), ErrorKind::WrongState);
    assert_eq!(
        p.set_daemon(true).unwrap_err().kind(),
        ErrorKind::WrongState
    );
    p.join(forever()).unwrap();
}

#[test]
fn timed_join_times_out_then_kill_ends_it() {
    let p = Process::new(Some(Box::new(|| {
        std::thread::sleep(Duration::from_secs(30));
        0
    })));
    p.start().unwrap();
    let start = Instant::now();
    let err = p.join(Deadline::from_timeout(0.1).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(100));
    p.kill().unwrap();
    p.join(Deadline::from_timeout(5.0).unwrap()).unwrap();
    assert_eq!(p.exitcode().unwrap(), -libc::SIGKILL);
}

#[test]
fn names_count_up_and_the_main_process_is_named() {
    assert_eq!(process::current().name_string(), "MainProcess");
    let a = Process::new(None);
    let b = Process::new(None);
    let number = |p: &Process| -> u32 { p.name_string()["Process-".len()..].parse().unwrap() };
    assert!(number(&b) > number(&a));
    assert_eq!(a.authkey(), process::current().authkey());
    assert_eq!(a.authkey().len(), 32);
}

#[test]
fn close_refuses_a_running_child_then_closes_the_sentinel() {
    let p = Process::new(Some(Box::new(|| {
        std::thread::sleep(Duration::from_millis(300));
        0
    })));
    p.start().unwrap();
    let sentinel = p.sentinel();
    assert!(sentinel >= 0);
    assert_eq!(p.close().unwrap_err().kind(), ErrorKind::WrongState);
    p.join(forever()).unwrap();
    p.close().unwrap();
    // SAFETY: fcntl on a number only. The sentinel is closed (each test is a process of
    // its own, in which nothing else opens a descriptor meanwhile).
    assert_eq!(unsafe { libc::fcntl(sentinel, libc::F_GETFD) }, -1);
    assert_eq!(p.sentinel(), -1);
    assert_eq!(p.pid(), 0);
    assert!(!p.is_alive());
    for err in [
        p.check_open().unwrap_err(),
        p.join(forever()).unwrap_err(),
        p.exitcode().unwrap_err(),
        p.terminate().unwrap_err(),
        p.start().unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    }
    p.close().unwrap();
}
