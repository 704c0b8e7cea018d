//! Parse and format speed of timestamps and timeranges.

#![allow(clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rushes_time::{TimeRange, Timestamp};

fn bench(c: &mut Criterion) {
    let ts = "1694429247:40000000";
    let tr = "[1694429247:0_1694429248:500000000)";
    c.bench_function("timestamp/parse", |b| {
        b.iter(|| black_box(ts).parse::<Timestamp>().unwrap())
    });
    let t: Timestamp = ts.parse().unwrap();
    c.bench_function("timestamp/format", |b| b.iter(|| black_box(t).to_string()));
    c.bench_function("timerange/parse", |b| {
        b.iter(|| black_box(tr).parse::<TimeRange>().unwrap())
    });
    let r: TimeRange = tr.parse().unwrap();
    c.bench_function("timerange/format", |b| b.iter(|| black_box(r).to_string()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
