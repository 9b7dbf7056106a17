//! Serial/TCP line scanners: any bytes, any configuration, split anywhere, with idle timeouts.
#![no_main]
use firmware_bridge::frames::line::{decode_frame, LineConfig, LineFramer, Terminator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let terminator = match sel % 5 {
        0 => Terminator::Cr,
        1 => Terminator::Lf,
        2 => Terminator::CrLf,
        3 => Terminator::Any,
        _ => Terminator::Idle,
    };
    let cfg = LineConfig {
        prefix: if sel & 0x08 != 0 {
            "]C".into()
        } else {
            String::new()
        },
        suffix: if sel & 0x10 != 0 {
            "\t".into()
        } else {
            String::new()
        },
        terminator,
        idle_timeout_ms: u64::from(sel >> 5) * 10,
        max_len: 1 + usize::from(sel >> 2) * 4,
    };
    let _ = decode_frame(rest, &cfg);
    // Feed in chunks whose sizes come from the input itself; time advances irregularly.
    let mut f = LineFramer::new(cfg.clone());
    let mut now = 0u64;
    let mut i = 0;
    while i < rest.len() {
        let n = 1 + usize::from(rest[i] % 7);
        let end = (i + n).min(rest.len());
        for r in f.push(&rest[i..end], now).into_iter().flatten() {
            assert!(r.raw.len() <= cfg.max_len, "frame longer than max_len");
        }
        now += u64::from(rest[i]);
        let _ = f.poll_idle(now);
        i = end;
    }
    let _ = f.poll_idle(u64::MAX);
    // Splitting must not change what a whole push decodes for terminator-based framing.
    if terminator != Terminator::Idle {
        let whole: Vec<_> = LineFramer::new(cfg.clone()).push(rest, 0);
        let mut g = LineFramer::new(cfg);
        let split: Vec<_> = rest.chunks(3).flat_map(|c| g.push(c, 0)).collect();
        assert_eq!(whole, split, "decoding depends on how the bytes were split");
    }
});
