// An ed25519 keypair for the demo: the public half in OpenSSH's format for Nova, the private half
// as PKCS#8 PEM (which OpenSSH reads) for the operator.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export function demoKeypair(comment: string): { publicKey: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: openSshPublicKey(publicKey, comment),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** The public key of a PKCS#8 PEM private key, in OpenSSH's format. */
export function publicKeyOfPem(pem: string, comment: string): string {
  return openSshPublicKey(createPublicKey(createPrivateKey(pem)), comment);
}

function openSshPublicKey(key: KeyObject, comment: string): string {
  // The last 32 bytes of an ed25519 SubjectPublicKeyInfo are the raw key.
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (b: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} ${comment}`;
}
