//! Child processes that die with the test, free ports, and waiting for readiness.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A free loopback port (bound then released; fine for tests that start at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A loopback port nothing listens on, held for as long as this lives: bound but not listening,
/// so connections are refused and no other test (or child) can take the port meanwhile.
pub struct DeadPort {
    _socket: socket2::Socket,
    pub addr: SocketAddr,
}

impl DeadPort {
    pub fn new() -> std::io::Result<Self> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("bound socket has no address"))?;
        Ok(Self {
            _socket: socket,
            addr,
        })
    }
}

/// The live (not yet exited) child processes of `pid`, read from `/proc`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat(p).is_some_and(|(state, ppid)| ppid == pid && state != 'Z'))
        .collect()
}

/// Whether process `pid` exists and has not exited (a zombie has).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// A process's state letter and parent id, from `/proc/<pid>/stat` ("pid (comm) state ppid …";
/// the command name may hold spaces and parentheses, so it is read past the last ')').
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// A child process killed when dropped.
pub struct Guard {
    pub child: Child,
}

impl Guard {
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        Ok(Self {
            child: cmd.spawn()?,
        })
    }

    /// Sends `signal` (e.g. "HUP", "TERM") to the child.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Waits up to `limit` for the child to exit; returns its exit code if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until something accepts TCP connections on `addr`, up to `limit`.
pub fn wait_listening(addr: SocketAddr, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        sleep(Duration::from_millis(50));
    }
    false
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        sleep(Duration::from_millis(50));
    }
    false
}

/// Runs `cmd`, which must succeed, and returns its trimmed stdout (stderr in the panic).
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
