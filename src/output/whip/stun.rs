//! A STUN binding request to a STUN server (RFC 8489 §6), for a server-reflexive candidate:
//! the address a NAT maps our UDP socket to. Only what that needs: a request with no
//! attributes, and the (XOR-)MAPPED-ADDRESS of a success response. Written here because str0m
//! speaks STUN only inside ICE (with credentials), and a crate for this alone would be larger
//! than these lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const MAGIC_COOKIE: u32 = 0x2112_a442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// A binding request with the given transaction id.
pub fn binding_request(transaction: [u8; 12]) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Length 0: no attributes.
    m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[8..20].copy_from_slice(&transaction);
    m
}

/// The mapped address of a success response to `transaction`; `None` for anything else.
pub fn mapped_address(response: &[u8], transaction: [u8; 12]) -> Option<SocketAddr> {
    if response.len() < 20
        || u16::from_be_bytes([response[0], response[1]]) != BINDING_SUCCESS
        || u32::from_be_bytes(response[4..8].try_into().ok()?) != MAGIC_COOKIE
        || response[8..20] != transaction
    {
        return None;
    }
    let len = u16::from_be_bytes([response[2], response[3]]) as usize;
    let mut attrs = response.get(20..20 + len)?;
    let mut plain = None;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = u16::from_be_bytes([attrs[2], attrs[3]]) as usize;
        let value = attrs.get(4..4 + alen)?;
        match kind {
            ATTR_XOR_MAPPED_ADDRESS => return address(value, Some(&response[4..20])),
            ATTR_MAPPED_ADDRESS => plain = address(value, None),
            _ => {}
        }
        // Attributes are padded to 4 bytes.
        attrs = attrs.get((4 + alen).next_multiple_of(4)..).unwrap_or(&[]);
    }
    plain
}

/// Decodes an address attribute; `xor` is the cookie and transaction id for XOR-MAPPED.
fn address(value: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    let family = *value.get(1)?;
    let mut port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]);
    let key = xor.unwrap_or(&[0u8; 16]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        1 => {
            let b: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            let k: [u8; 4] = key[..4].try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| {
                b[i] ^ k[i]
            })))
        }
        2 => {
            let b: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| {
                b[i] ^ key[i]
            })))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.2's sample IPv4 response (its attributes cut to XOR-MAPPED-ADDRESS).
    #[test]
    fn rfc5769_sample_response_maps_to_192_0_2_1() {
        let transaction = [
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ];
        let mut resp = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
        resp.extend_from_slice(&transaction);
        resp.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47]);
        resp.extend_from_slice(&[0xe1, 0x12, 0xa6, 0x43]);
        assert_eq!(
            mapped_address(&resp, transaction),
            Some("192.0.2.1:32853".parse().unwrap())
        );
        assert_eq!(mapped_address(&resp, [0; 12]), None, "another transaction");
        assert_eq!(mapped_address(&resp[..24], transaction), None, "truncated");
        let req = binding_request(transaction);
        assert_eq!(&req[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
    }

    #[test]
    fn a_plain_mapped_address_is_taken_when_no_xor_one_comes() {
        let t = [7u8; 12];
        let mut resp = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
        resp.extend_from_slice(&t);
        resp.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x13, 0x88, 10, 0, 0, 7]);
        assert_eq!(
            mapped_address(&resp, t),
            Some("10.0.0.7:5000".parse().unwrap())
        );
    }
}
