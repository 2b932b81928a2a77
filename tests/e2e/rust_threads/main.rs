// Threads as every Rust program starts them: std's thread start asks glibc
// for its stack (pthread_getattr_np, which mallocs under the thread's lock)
// before the closure runs. Each thread leaks one vector of a size it knows;
// the sum is printed as ground truth.
use std::thread;

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(16);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let v: Vec<u8> = vec![7; 1000 + i];
                let len = v.len();
                std::mem::forget(v);
                len
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("threads {} leaked {}", n, total);
}
