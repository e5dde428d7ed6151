// @hopmail/sender-auth: what makes mail we send or forward authenticate at the next hop —
// DKIM keys (generation, import checks, encryption at rest), DKIM signing, ARC sealing, and
// the Sender Rewriting Scheme. Used by admin-api (keys), outbound-relay (signing, sealing,
// SRS) and smtp-ingress (SRS bounces).
export { arcSeal, ownAuthResults, type ArcSealKey, type ArcSealResult, type Resolver } from './arc-seal.ts';
export { fromDomain, OVERSIGNED_FIELDS, parseHeader, SIGNED_FIELDS, signDkim, signDkimAsync, splitMessage, type FromDomain, type SigningKey, type SplitMessage } from './dkim-sign.ts';
export { decodeKek, DEVELOPMENT_KEK, KekError, kekConfig, kekId, loadKek, openPrivateKey, sealPrivateKey, type Kek } from './kek.ts';
export {
  checkSelector, DKIM_ALGORITHMS, dkimRecordName, dkimRecordValue, generateDkimKey, importDkimKey, RSA_MAX_BITS, RSA_MIN_BITS,
  type DkimAlgorithm, type DkimKeyMaterial, type ImportResult, type SelectorCheck,
} from './keys.ts';
export { requireSecretsInProduction } from './secrets.ts';
export { DEVELOPMENT_SRS_SECRET, isSrsLocalPart, MAX_ADDRESS_OCTETS, srsConfig, srsForward, srsReverse, type SrsForward, type SrsKeys, type SrsReverse } from './srs.ts';
