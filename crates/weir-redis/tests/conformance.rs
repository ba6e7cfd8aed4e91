//! The conformance suite (weir-testkit) on the XADD sink against a real
//! redis-server (one for the suite, a connection per case): every ending,
//! acknowledgements once each and only for what the server took, no task
//! left behind. On the real clock: the server answers on its own time.

use weir_redis::RedisSink;
use weir_testkit::conformance;
use weir_testkit::redis::RedisServer;

#[test]
fn the_redis_sink_keeps_every_promise() {
    let server = RedisServer::start();
    let url = server.url();
    let make = move || {
        RedisSink::new(url.clone(), "conformance", |n: &u32, f| {
            f.field("n", n.to_string());
        })
    };
    let passed = conformance::sink("xadd", make).real_clock().cases(48).assert();
    assert_eq!(passed.unreached(), [], "promises no case reached in {} cases", passed.cases());
}
