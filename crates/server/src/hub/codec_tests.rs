//! The frame codec's rules, each at its edge (RFC 6455 §5, §7.4).

use super::*;

/// A frame as a client sends it: masked.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | u8::from(opcode)];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 65535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn decode(max: usize, bytes: &[u8]) -> Result<Vec<Incoming>, Violation> {
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    d.feed(bytes, &mut out)?;
    Ok(out)
}

#[test]
fn server_frames_have_the_shortest_header() {
    assert_eq!(&encode(OP_TEXT, b"hi")[..], &[0x81, 2, b'h', b'i']);
    let mid = encode(OP_TEXT, &[b'a'; 126]);
    assert_eq!(&mid[..4], &[0x81, 126, 0, 126]);
    let big = encode(OP_TEXT, &vec![b'a'; 70_000]);
    assert_eq!(&big[..2], &[0x81, 127]);
    assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
}

/// The header as written by hand before `FrameHeader::format`.
fn header_by_hand(opcode: u8, n: usize) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match n {
        n if n < 126 => out.push(n as u8),
        n if n <= 65_535 => out.extend([126].into_iter().chain((n as u16).to_be_bytes())),
        n => out.extend([127].into_iter().chain((n as u64).to_be_bytes())),
    }
    out
}

#[test]
fn frames_are_the_bytes_they_were() {
    for op in [OP_TEXT, OP_CLOSE, OP_PING, OP_PONG] {
        for n in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = vec![b'x'; n];
            let mut want = header_by_hand(u8::from(op), n);
            want.extend_from_slice(&payload);
            assert_eq!(&encode(op, &payload)[..], &want[..], "{op:?} {n}");
        }
    }
}

#[test]
fn close_codes_convert_both_ways_unchanged() {
    for code in 0..=u16::MAX {
        assert_eq!(u16::from(CloseCode::from(code)), code);
    }
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    client_frame(true, OP_CLOSE, &payload)
}

#[test]
fn reserved_and_unassigned_close_codes_are_protocol_errors() {
    let bad = (0..=999)
        .chain([1004, 1005, 1006, 1015])
        .chain(1016..=2999)
        .chain(5000..=u16::MAX);
    for code in bad {
        let e = decode(100, &close_frame(code, b"")).unwrap_err();
        assert_eq!(e.code, CLOSE_PROTOCOL_ERROR, "{code}");
    }
    let good = (1000..=1003).chain(1007..=1014).chain(3000..=4999);
    for code in good {
        let out = decode(100, &close_frame(code, b"bye")).unwrap();
        assert_eq!(out, vec![Incoming::Close(Some(CloseCode::from(code)))]);
    }
}

#[test]
fn a_close_reason_that_is_not_utf8_is_1007() {
    let e = decode(100, &close_frame(1000, &[0xff, 0xfe])).unwrap_err();
    assert_eq!(e.code, CLOSE_INVALID_DATA);
    assert!(decode(100, &close_frame(1000, "fin é".as_bytes())).is_ok());
}

#[test]
fn a_64_bit_length_with_its_top_bit_set_is_1002_not_1009() {
    let mut f = vec![0x81, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63 | 1u64 << 40).to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    let e = decode(1 << 20, &f).unwrap_err();
    assert_eq!(e.code, CLOSE_PROTOCOL_ERROR, "{e}");
    // Without the top bit, the same header is only too big.
    f[2] &= 0x7f;
    assert_eq!(decode(1 << 20, &f).unwrap_err().code, CLOSE_TOO_BIG);
}

#[test]
fn close_reason_is_cut_on_a_char_boundary() {
    let f = encode_close(CloseCode::Normal, &"é".repeat(100));
    assert!(f.len() - 2 <= MAX_CONTROL_PAYLOAD);
    assert!(std::str::from_utf8(&f[4..]).is_ok());
}

#[test]
fn frames_split_anywhere_decode_the_same() {
    let mut bytes = client_frame(true, OP_TEXT, b"{\"type\":\"ping\"}");
    bytes.extend(client_frame(false, OP_TEXT, b"hel"));
    bytes.extend(client_frame(true, OP_PING, b"p"));
    bytes.extend(client_frame(true, OP_CONTINUATION, &[b'l'; 300]));
    bytes.extend(client_frame(true, OP_CLOSE, &1000u16.to_be_bytes()));
    let whole = decode(1024, &bytes).unwrap();
    assert_eq!(whole.len(), 4);
    assert_eq!(whole[1], Incoming::Ping(b"p".to_vec()));
    assert_eq!(whole[2], Incoming::Text(format!("hel{}", "l".repeat(300))));
    assert_eq!(whole[3], Incoming::Close(Some(CloseCode::Normal)));
    for cut in 1..bytes.len() {
        let mut d = Decoder::new(1024);
        let mut out = Vec::new();
        d.feed(&bytes[..cut], &mut out).unwrap();
        d.feed(&bytes[cut..], &mut out).unwrap();
        assert_eq!(out, whole, "split at {cut}");
        assert!(d.partial.is_empty());
    }
}

#[test]
fn message_size_limit_is_exact() {
    assert!(decode(200, &client_frame(true, OP_TEXT, &[b'a'; 200])).is_ok());
    let over = decode(200, &client_frame(true, OP_TEXT, &[b'a'; 201])).unwrap_err();
    assert_eq!(over.code, CLOSE_TOO_BIG);
    // The limit is on the reassembled message, not only on each frame.
    let mut two = client_frame(false, OP_TEXT, &[b'a'; 100]);
    two.extend(client_frame(true, OP_CONTINUATION, &[b'a'; 100]));
    assert!(decode(200, &two).is_ok());
    let mut three = client_frame(false, OP_TEXT, &[b'a'; 100]);
    three.extend(client_frame(true, OP_CONTINUATION, &[b'a'; 101]));
    assert_eq!(decode(200, &three).unwrap_err().code, CLOSE_TOO_BIG);
}

#[test]
fn too_big_is_known_from_the_header_alone() {
    let frame = client_frame(true, OP_TEXT, &vec![b'a'; 70_000]);
    assert_eq!(
        decode(65_536, &frame[..14]).unwrap_err().code,
        CLOSE_TOO_BIG
    );
}

#[test]
fn protocol_violations_are_refused() {
    let unmasked = [0x81, 1, b'a'];
    assert_eq!(
        decode(100, &unmasked).unwrap_err().code,
        CLOSE_PROTOCOL_ERROR
    );
    let mut rsv = client_frame(true, OP_TEXT, b"a");
    rsv[0] |= 0x40;
    assert_eq!(decode(100, &rsv).unwrap_err().code, CLOSE_PROTOCOL_ERROR);
    let orphan = client_frame(true, OP_CONTINUATION, b"a");
    assert_eq!(decode(100, &orphan).unwrap_err().code, CLOSE_PROTOCOL_ERROR);
    let long_ping = client_frame(true, OP_PING, &[0; 126]);
    assert_eq!(
        decode(1000, &long_ping).unwrap_err().code,
        CLOSE_PROTOCOL_ERROR
    );
    let bad_text = client_frame(true, OP_TEXT, &[0xff, 0xfe]);
    assert_eq!(decode(100, &bad_text).unwrap_err().code, CLOSE_INVALID_DATA);
    let unknown = client_frame(true, OpCode::from(0x3), b"");
    assert_eq!(
        decode(100, &unknown).unwrap_err().code,
        CLOSE_PROTOCOL_ERROR
    );
}
