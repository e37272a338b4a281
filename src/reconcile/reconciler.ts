// The reconcile loop, like a Kubernetes controller: every tick, observe both views,
// diagnose, and publish the verdict with its evidence. Level-triggered: a missed
// tick changes nothing. It logs each change of verdict once, with why.
import type { ClusterView } from '../cluster/view.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Gauge, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import { diagnose, rules, type DiagnosePolicy, type Memory, type ServiceSnapshot, type Verdict } from './diagnose.ts';

export interface ReconcileStatus {
  at: string | null;
  verdict: Verdict | null;
}

export class Reconciler {
  #timer: NodeJS.Timeout | undefined;
  #memory: Memory = {};
  #status: ReconcileStatus = { at: null, verdict: null };
  readonly #policy: DiagnosePolicy;
  readonly #intervalMs: number;
  readonly #cluster: () => ClusterView;
  readonly #service: () => ServiceSnapshot;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #divergence: Gauge<'rule'>;
  readonly #act: (verdict: Verdict) => void;

  /** `act` receives every verdict (the remediator); the reconciler itself only observes and explains. */
  constructor(config: Config['reconcile'], views: { cluster: () => ClusterView; service: () => ServiceSnapshot }, act: (verdict: Verdict) => void, registry: Registry, logger: Logger, now: () => number = Date.now) {
    this.#act = act;
    this.#policy = { staleGraceMs: config.stale_grace_ms, errorRateThreshold: config.error_rate_threshold, minRequests: config.min_requests, sustainMs: config.sustain_ms };
    this.#intervalMs = config.interval_ms;
    this.#cluster = views.cluster;
    this.#service = views.service;
    this.#logger = logger.child({ component: 'reconcile' });
    this.#now = now;
    this.#divergence = new Gauge({ name: `${metricPrefix}view_divergence`, help: "1 while a rule finds the service's view diverging from the cluster's: stale_pool, false_unavailability.", labelNames: ['rule'], registers: [registry] });
    for (const rule of rules) this.#divergence.set({ rule }, 0);
  }

  start(): void {
    this.#timer = setInterval(() => { this.tick(); }, this.#intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  status(): ReconcileStatus {
    return this.#status;
  }

  tick(): Verdict {
    const now = this.#now();
    const previous = this.#status.verdict;
    const { verdict, memory } = diagnose(this.#cluster(), this.#service(), now, this.#policy, this.#memory);
    this.#memory = memory;
    this.#status = { at: new Date(now).toISOString(), verdict };
    for (const rule of rules) this.#divergence.set({ rule }, verdict.findings.some((f) => f.rule === rule) ? 1 : 0);

    const shape = (v: Verdict | null): string => `${v?.action ?? 'none'}|${v?.rule ?? ''}|${v?.findings.map((f) => f.rule).join(',') ?? ''}`;
    if (shape(previous) !== shape(verdict)) {
      const fields = { action: verdict.action, rule: verdict.rule ?? undefined, evidence: verdict.evidence };
      if (verdict.action === 'restart') this.#logger.error(fields, `divergence: ${verdict.rule ?? ''} held for ${this.#policy.sustainMs / 1000} s; the service's pool needs a restart`);
      else if (verdict.action === 'suppressed') this.#logger.warn(fields, `no action: ${verdict.suppressed ?? ''}`);
      else if (verdict.findings.length > 0) this.#logger.warn(fields, `possible divergence (${verdict.findings.map((f) => f.rule).join(', ')}); watching it for ${this.#policy.sustainMs / 1000} s`);
      else this.#logger.info(fields, "the service's view agrees with the cluster's");
    }
    this.#act(verdict);
    return verdict;
  }
}
