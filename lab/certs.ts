// Throwaway certificates for TLS tests, made with openssl: a CA, and certificates it
// signs for servers (with IP addresses as names) and clients. Never committed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Certificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface CertificateAuthority extends Certificate {
  dir: string;
  issue(name: string, options?: { ipAddresses?: string[]; dnsNames?: string[]; days?: number }): Certificate;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

const loaded = (certFile: string, keyFile: string): Certificate => ({
  certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'),
});

/** A throwaway CA whose files live in `dir`. */
export function createCertificateAuthority(dir: string): CertificateAuthority {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=sessionstore-sidecar test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  let serial = 1;
  return {
    dir,
    ...loaded(join(dir, 'ca.crt'), join(dir, 'ca.key')),
    issue(name, options = {}) {
      const names = [...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`), ...(options.dnsNames ?? []).map((dns) => `DNS:${dns}`)];
      const extensions = join(dir, `${name}.ext`);
      execFileSync('sh', ['-c', `cat > ${JSON.stringify(extensions)}`], {
        input: names.length > 0 ? `subjectAltName=${names.join(',')}\n` : 'basicConstraints=CA:FALSE\n',
      });
      // OpenSSL 3 writes unencrypted PKCS#8 keys: what Node and Cassandra's PEM loader read.
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(serial++),
        '-days', String(options.days ?? 2), '-extfile', extensions, '-out', `${name}.crt`], dir);
      return loaded(join(dir, `${name}.crt`), join(dir, `${name}.key`));
    },
  };
}
