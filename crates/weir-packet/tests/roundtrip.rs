//! decode(encode(p)) == p for every packet; any bytes decode to a packet
//! or a typed error, never a panic; a frame that decodes re-encodes to the
//! same bytes; every malformation is named by its reason.

use bytes::Bytes;
use proptest::prelude::*;
use weir_packet::{DecodeError, MAX_READINGS, MIN_FRAME_LEN, Malformation, Packet, Reading, decode};

fn reading() -> impl Strategy<Value = Reading> {
    (any::<u8>(), any::<f32>().prop_filter("finite", |v| v.is_finite())).prop_map(|(s, v)| Reading::new(s, v))
}

fn packet() -> impl Strategy<Value = Packet> {
    (any::<u32>(), any::<u64>(), any::<u64>(), proptest::collection::vec(reading(), 0..=MAX_READINGS))
        .prop_map(|(device, sequence, ts, readings)| Packet::new(device, sequence, ts, readings))
}

proptest! {
    #[test]
    fn decode_inverts_encode(p in packet()) {
        let frame = p.encode();
        prop_assert_eq!(frame.len(), p.frame_len());
        let back = decode(frame.clone()).expect("a good frame decodes");
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.encode(), frame);
    }

    #[test]
    fn any_bytes_decode_or_say_why_and_what_decodes_reencodes_the_same(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let frame = Bytes::from(bytes);
        if let Ok(p) = decode(frame.clone()) {
            prop_assert_eq!(p.encode(), frame);
        }
    }

    #[test]
    fn a_good_frame_with_bytes_changed_decodes_the_same_or_fails(p in packet(), at in any::<prop::sample::Index>(), flip in 1..=255u8) {
        let mut bytes = p.encode().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        // One changed byte never goes unnoticed: CRC32 catches every
        // single-byte error.
        prop_assert!(decode(bytes.into()).is_err());
    }

    #[test]
    fn every_malformation_is_named(p in packet(), kind in proptest::sample::select(Malformation::ALL.to_vec())) {
        let err = decode(kind.frame(&p)).expect_err("broken on purpose");
        prop_assert_eq!(err.reason(), kind.reason(), "{}", err);
    }
}

#[test]
fn each_error_says_what_is_wrong() {
    let p = Packet::new(7, 1, 2, [Reading::new(1, 1.0)]);
    let cases: Vec<(Malformation, &str)> = vec![
        (Malformation::Truncated, "truncated frame: 17 bytes, a frame needs at least 30"),
        (Malformation::BadMagic, "bad magic [58, 58]: not a weir telemetry frame (expected \"WT\")"),
        (Malformation::UnsupportedVersion, "unsupported frame version 2: this decoder reads version 1"),
        (
            Malformation::LengthMismatch,
            "length mismatch: the header says a 26-byte payload, the frame holds 27",
        ),
        (Malformation::OutOfRange, "out-of-range reading value: NaN (reading 1, sensor 0)"),
    ];
    for (kind, message) in cases {
        assert_eq!(decode(kind.frame(&p)).unwrap_err().to_string(), message, "{kind:?}");
    }
    let err = decode(Malformation::ChecksumMismatch.frame(&p)).unwrap_err();
    assert!(err.to_string().starts_with("checksum mismatch: the frame says 0x"), "{err}");
}

#[test]
fn too_many_readings_is_out_of_range() {
    let p = Packet::new(1, 1, 1, (0..=MAX_READINGS as u8).map(|s| Reading::new(s, 0.0)));
    let err = decode(p.encode()).unwrap_err();
    assert_eq!(err, DecodeError::OutOfRange { field: "reading count", value: "65 (at most 64)".to_owned() });
}

#[test]
fn the_smallest_frame_and_short_reads() {
    assert_eq!(decode(Packet::new(0, 0, 0, []).encode()).unwrap().readings().len(), 0);
    assert_eq!(decode(Bytes::new()).unwrap_err(), DecodeError::Truncated { len: 0, needed: MIN_FRAME_LEN });
    let frame = Packet::new(0, 0, 0, [Reading::new(1, 1.0)]).encode();
    // Header intact, the rest cut: the header's length tells how much is missing.
    assert_eq!(
        decode(frame.slice(..frame.len() - 2)).unwrap_err(),
        DecodeError::Truncated { len: frame.len() - 2, needed: frame.len() }
    );
}

#[test]
fn readings_stay_in_the_frames_buffer() {
    let frame = Packet::new(1, 1, 1, [Reading::new(3, 2.5)]).encode();
    let p = decode(frame.clone()).unwrap();
    let inside = frame.as_ptr_range();
    assert!(inside.contains(&p.readings().as_bytes().as_ptr()), "no copy of the readings");
}
