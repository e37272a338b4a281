// Throwaway certificates for TLS tests, made with openssl: a CA, and certificates it
// signs for servers (with IP addresses as names) and clients. Never committed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Certificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface CertificateAuthority extends Certificate {
  dir: string;
  /** Valid from an hour ago until `notAfter` (a rotation's old certificate expires on cue), or for `days` (2). */
  issue(name: string, options?: { ipAddresses?: string[]; dnsNames?: string[]; days?: number; notAfter?: Date }): Certificate;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

const loaded = (certFile: string, keyFile: string): Certificate => ({
  certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'),
});

/** A throwaway CA whose files live in `dir`, valid for `days`. */
export function createCertificateAuthority(dir: string, days = 2): CertificateAuthority {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days),
    '-subj', '/CN=sessionstore-sidecar test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  return certificateAuthorityIn(dir);
}

// `openssl ca` rather than `x509 -req`: only it takes an end date to the second.
const signingConfig = `[ca]
default_ca = lab
[lab]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
`;

/** ASN.1 UTCTime, as `openssl ca` takes its dates. */
const utcTime = (date: Date): string => `${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`;

/** The CA already in `dir` (its ca.crt and ca.key), e.g. the lab cluster's. */
export function certificateAuthorityIn(dir: string): CertificateAuthority {
  if (!existsSync(join(dir, 'index.txt'))) writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'ca.cnf'), signingConfig);
  return {
    dir,
    ...loaded(join(dir, 'ca.crt'), join(dir, 'ca.key')),
    issue(name, options = {}) {
      const names = [...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`), ...(options.dnsNames ?? []).map((dns) => `DNS:${dns}`)];
      const extensions = join(dir, `${name}.ext`);
      writeFileSync(extensions, names.length > 0 ? `subjectAltName=${names.join(',')}\n` : 'basicConstraints=CA:FALSE\n');
      // OpenSSL 3 writes unencrypted PKCS#8 keys: what Node and Cassandra's PEM loader read.
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
      const now = Date.now();
      const notAfter = options.notAfter ?? new Date(now + (options.days ?? 2) * 86_400_000);
      openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', `${name}.crt`,
        '-notext', '-rand_serial', '-startdate', utcTime(new Date(now - 3_600_000)), '-enddate', utcTime(notAfter), '-extfile', extensions], dir);
      return loaded(join(dir, `${name}.crt`), join(dir, `${name}.key`));
    },
  };
}
