//! Bytes → `weir_packet::decode`: never panics; a frame that decodes
//! re-encodes to the same bytes, and decodes again to the same packet.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(packet) = weir_packet::decode(frame.clone()) {
        let again = packet.encode();
        assert_eq!(again, frame, "a frame that decodes re-encodes to itself");
        assert_eq!(weir_packet::decode(again).expect("decodes again"), packet);
    }
});
