/**
 * Published known-answer vectors (hex), used by the backend self-test and the unit tests.
 * Sources are named on each vector. Values marked "OpenSSL" were computed with OpenSSL 3.0.19's
 * BLAKE2SMAC (`openssl mac -macopt hexkey:<key> -macopt size:16 BLAKE2SMAC`), an implementation
 * independent of @noble/hashes, because no published vector covers keyed BLAKE2s with a 16-byte
 * output.
 */

const ASCII = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
/** Hex of the bytes 0x00, 0x01, …, (length - 1) mod 256 (the BLAKE2 KAT input pattern). */
export const sequenceHex = (length: number, start = 0): string =>
  Array.from({ length }, (_, i) => ((start + i) & 0xff).toString(16).padStart(2, '0')).join('');

export interface AeadVector {
  readonly source: string;
  readonly key: string;
  readonly nonce: string;
  readonly ad: string;
  readonly plaintext: string;
  /** Ciphertext followed by the 16-byte tag. */
  readonly sealed: string;
}

const SUNSCREEN = ASCII(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

/** RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 encryption. */
export const RFC8439_2_8_2: AeadVector = {
  source: 'RFC 8439 §2.8.2',
  key: sequenceHex(32, 0x80),
  nonce: '070000004041424344454647',
  ad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: SUNSCREEN,
  sealed:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116' +
    '1ae10b594f09e26a7e902ecbd0600691',
};

/** RFC 8439 §A.5: ChaCha20-Poly1305 AEAD decryption. */
export const RFC8439_A_5: AeadVector = {
  source: 'RFC 8439 §A.5',
  key: '1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0',
  nonce: '000000000102030405060708',
  ad: 'f33388860000000000004e91',
  plaintext: ASCII(
    'Internet-Drafts are draft documents valid for a maximum of six months and may be updated, ' +
      'replaced, or obsoleted by other documents at any time. It is inappropriate to use ' +
      'Internet-Drafts as reference material or to cite them other than as /\u201cwork in progress./\u201d',
  ),
  sealed:
    '64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0' +
    'bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855' +
    '9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9' +
    '9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a' +
    '0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130' +
    '305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b' +
    'eead9d67890cbb22392336fea1851f38',
};

/** draft-irtf-cfrg-xchacha-03 §A.3.1: AEAD_XChaCha20_Poly1305. */
export const XCHACHA_A_3_1: AeadVector = {
  source: 'draft-irtf-cfrg-xchacha-03 §A.3.1',
  key: sequenceHex(32, 0x80),
  nonce: sequenceHex(24, 0x40),
  ad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: SUNSCREEN,
  sealed:
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
    'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49',
};

export interface HashVector {
  readonly source: string;
  readonly input: string;
  readonly key?: string;
  readonly digest: string;
}

/** Unkeyed BLAKE2s-256. */
export const BLAKE2S_VECTORS: readonly HashVector[] = [
  {
    source: 'RFC 7693 Appendix B ("abc")',
    input: ASCII('abc'),
    digest: '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
  },
  {
    source: 'BLAKE2s-256 of the empty string (BLAKE2 reference)',
    input: '',
    digest: '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9',
  },
  {
    source: 'WireGuard initial chaining key: BLAKE2s("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")',
    input: ASCII('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'),
    digest: '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36',
  },
];

const KAT_KEY = sequenceHex(32);

/** Keyed BLAKE2s with a 32-byte output: BLAKE2 reference KAT (blake2s-kat.txt, key 00..1f). */
export const BLAKE2S_KEYED_KAT: readonly HashVector[] = [
  {
    source: 'blake2s keyed KAT, in = empty',
    key: KAT_KEY,
    input: '',
    digest: '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49',
  },
  {
    source: 'blake2s keyed KAT, in = 00',
    key: KAT_KEY,
    input: sequenceHex(1),
    digest: '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1',
  },
  {
    source: 'blake2s keyed KAT, in = 00 01',
    key: KAT_KEY,
    input: sequenceHex(2),
    digest: '6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803',
  },
  {
    source: 'blake2s keyed KAT, in = 00..3f (one block)',
    key: KAT_KEY,
    input: sequenceHex(64),
    digest: '8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4',
  },
  {
    source: 'blake2s keyed KAT, in = 00..40',
    key: KAT_KEY,
    input: sequenceHex(65),
    digest: '21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8',
  },
  {
    source: 'blake2s keyed KAT, in = 00..fe',
    key: KAT_KEY,
    input: sequenceHex(255),
    digest: '3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd',
  },
];

/** Keyed BLAKE2s with a 16-byte output (WireGuard's MAC), computed with OpenSSL's BLAKE2SMAC. */
export const BLAKE2S_MAC16_VECTORS: readonly HashVector[] = [
  {
    source: 'OpenSSL, 32-byte key, "abc"',
    key: KAT_KEY,
    input: ASCII('abc'),
    digest: '61ba5f165c194692e09d12520cc4c74a',
  },
  {
    source: 'OpenSSL, 32-byte key, empty',
    key: KAT_KEY,
    input: '',
    digest: '9536f9b267655743dee97b8a670f9f53',
  },
  {
    source: 'OpenSSL, 32-byte key, 00..02',
    key: KAT_KEY,
    input: sequenceHex(3),
    digest: '1e2a79436a7796a3e9826bfedf07659f',
  },
  {
    source: 'OpenSSL, 32-byte key, 00..3f',
    key: KAT_KEY,
    input: sequenceHex(64),
    digest: 'f1efa90d2547036841ecd3627fafbc36',
  },
  {
    source: 'OpenSSL, 32-byte key, 00..40',
    key: KAT_KEY,
    input: sequenceHex(65),
    digest: '811ff8686d23a435ecbd0bdafcd27b1b',
  },
  {
    source: 'OpenSSL, 32-byte key, 00..73 (mac1 input length)',
    key: KAT_KEY,
    input: sequenceHex(116),
    digest: '072e94ffbfc684bd8ab2a1b9dade2fd5',
  },
  {
    source: 'OpenSSL, 16-byte key (cookie), empty',
    key: sequenceHex(16),
    input: '',
    digest: 'af4e5d3bb230e9ff9096ca6f7c501f76',
  },
  {
    source: 'OpenSSL, 16-byte key (cookie), 00..3f',
    key: sequenceHex(16),
    input: sequenceHex(64),
    digest: 'dd55c51c98f8ab96ed272882941f0b6a',
  },
  {
    source: 'OpenSSL, 16-byte key (cookie), 00..73 (mac2 input length)',
    key: sequenceHex(16),
    input: sequenceHex(116),
    digest: 'b9b1bbba1b59e4349d1018f97d243fca',
  },
];

/** HMAC-BLAKE2s-256 (RFC 2104, 64-byte block), computed with OpenSSL (`openssl mac -digest BLAKE2S-256 HMAC`). */
export const HMAC_BLAKE2S_VECTORS: readonly HashVector[] = [
  {
    source: 'OpenSSL HMAC, key 00..1f, "abc"',
    key: KAT_KEY,
    input: ASCII('abc'),
    digest: '82623be5bc0a391b24dce53e67d028eff92d586de0485ac37822e597d049c74f',
  },
  {
    source: 'OpenSSL HMAC, key 00..1f, empty',
    key: KAT_KEY,
    input: '',
    digest: 'e2641d24dfa8dd89e8cb77f1cdc77d8c006e5bebdfc4d6a3a3a6f8d5b7586fb0',
  },
  {
    source: 'OpenSSL HMAC, key 00..1f, 200 bytes 00..c7',
    key: KAT_KEY,
    input: sequenceHex(200),
    digest: '543eec9b22646365ef782d72dae137cc761d018005f8d33d0f20bfbd01e62974',
  },
  {
    source: 'OpenSSL HMAC, 65-byte key (longer than a block, hashed first), 100 bytes 80..e3',
    key: sequenceHex(65),
    input: sequenceHex(100, 0x80),
    digest: '6461f2bb8a7868eb16cdb5ff7cf78022994027d37d18f133006e1cef19d987ba',
  },
];

export interface X25519Vector {
  readonly source: string;
  readonly scalar: string;
  readonly u: string;
  readonly result: string;
}

/** RFC 7748 §5.2: the two single scalar-multiplication vectors. */
export const RFC7748_5_2: readonly X25519Vector[] = [
  {
    source: 'RFC 7748 §5.2 vector 1',
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    result: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    source: 'RFC 7748 §5.2 vector 2',
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    result: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];

/** RFC 7748 §5.2 iterated X25519 starting from k = u = 9: results after 1 and 1,000 iterations. */
export const RFC7748_ITERATED = {
  source: 'RFC 7748 §5.2 iterations',
  start: '09' + '00'.repeat(31),
  after1: '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079',
  after1000: '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51',
} as const;

/** RFC 7748 §6.1: X25519 Diffie-Hellman. */
export const RFC7748_6_1 = {
  source: 'RFC 7748 §6.1',
  alicePrivate: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePublic: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPrivate: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPublic: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
} as const;

/**
 * Curve25519 u-coordinates of small order (the points whose X25519 result is all zeros for every
 * clamped scalar): 0, 1, the two points of order 8, p - 1, and the non-canonical encodings p and
 * p + 1 (which reduce to 0 and 1). RFC 7748 §5 masks the top bit, so each also appears with bit
 * 255 set.
 */
const LOW_ORDER_BASE = [
  '00'.repeat(32),
  '01' + '00'.repeat(31),
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ec' + 'ff'.repeat(30) + '7f',
  'ed' + 'ff'.repeat(30) + '7f',
  'ee' + 'ff'.repeat(30) + '7f',
];

const withTopBit = (hex: string): string =>
  hex.slice(0, 62) + (parseInt(hex.slice(62), 16) | 0x80).toString(16);

export const LOW_ORDER_POINTS: readonly string[] = [...LOW_ORDER_BASE, ...LOW_ORDER_BASE.map(withTopBit)];
