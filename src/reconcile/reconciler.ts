// The reconcile loop, like a Kubernetes controller: every tick,
//   1. observe both views;
//   2. diagnose (a pure function) with what was remembered;
//   3. hand the verdict to the remediator, which acts and returns what it did (nothing,
//      held back and until when, a restart under way);
//   4. publish one verdict, the final word, with its evidence and memory;
//   5. requeue: the next tick after the interval, or sooner when what held the action
//      back ends sooner (controller-runtime's RequeueAfter).
// Level-triggered: a missed tick changes nothing, and the loop's ticks never overlap
// (the remediator's last-moment recheck asks for one more). Each change of verdict is
// logged once, with why.
import type { ClusterView } from '../cluster/view.ts';
import type { Config } from '../config/schema.ts';
import { showHeld, type ActionResult, type Held, type Shown } from '../remediate/remediator.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Gauge, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import { diagnose, emptyMemory, isServiceRule, serviceRules, type DiagnosePolicy, type Memory, type ServiceSnapshot, type Verdict } from './diagnose.ts';

/** The verdict as published: what the sidecar does, and if it does nothing, why (from the views or from the remediator). */
export interface PublishedVerdict extends Omit<Verdict, 'suppressed'> {
  suppressed: Held | null;
}

export interface ReconcileStatus {
  at: string | null;
  verdict: (Omit<PublishedVerdict, 'suppressed'> & { suppressed: Shown<Held> | null }) | null;
  /** What diagnose() remembers between ticks: since when each rule holds, Cassandra's fault periods, and since when the service's pool has lacked each node. */
  memory: { since: Record<string, string>; faults: { kind: string; from: string; to: string | null }[]; poolMissingSince: Record<string, string> };
}

const minRequeueMs = 50;

/** One tick's inputs of the decision: with the policy, enough to replay its verdict offline (test/reconcile/recorded-rows.test.ts does). */
export interface TickInputs {
  now: number;
  cluster: ClusterView;
  service: ServiceSnapshot;
}

/** What GET /reconcile/inputs serves: the policy and the last ticks' inputs, oldest first. */
export interface RecordedInputs {
  policy: DiagnosePolicy;
  ticks: TickInputs[];
}

/** How far back the reconciler keeps its inputs: long enough to replay an incident's start, a few MB at most. */
const keptInputsMs = 10 * 60_000;

/**
 * One judgment: the verdict the views call for and what to remember, or null while the
 * sidecar's own view is not settled: at start-up, before every node has answered, "no
 * quorum" only means "not known yet", so nothing is judged and nothing remembered.
 */
export function judge(inputs: TickInputs, policy: DiagnosePolicy, memory: Memory): { verdict: Verdict; memory: Memory } | null {
  if (!inputs.cluster.settled) return null;
  return diagnose(inputs.cluster, inputs.service, inputs.now, policy, memory);
}

/** The verdict before the sidecar's own view of the cluster is in. */
const notYet: PublishedVerdict = {
  action: 'none', rule: null, findings: [], suppressed: null, brokenCoordinators: [],
  evidence: ["the sidecar's own view of the cluster is not in yet: waiting for every known node's first probe and canary"],
};

export function diagnosePolicy(config: Config): DiagnosePolicy {
  const { reconcile, cassandra } = config;
  return {
    staleGraceMs: reconcile.stale_grace_ms,
    errorRateThreshold: reconcile.error_rate_threshold,
    minRequests: reconcile.min_requests,
    sustainMs: reconcile.sustain_ms,
    // The sidecar notices a fault within `failure_threshold` probes, each up to its timeout, plus a reconcile tick.
    faultLagMs: cassandra.probe.interval_ms * cassandra.probe.failure_threshold + cassandra.probe.timeout_ms + reconcile.interval_ms,
  };
}

export class Reconciler {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #verdict: PublishedVerdict | null = null;
  #memory: Memory = emptyMemory;
  #inputs: TickInputs[] = [];
  #status: ReconcileStatus = { at: null, verdict: null, memory: { since: {}, faults: [], poolMissingSince: {} } };
  readonly #policy: DiagnosePolicy;
  readonly #intervalMs: number;
  readonly #cluster: () => ClusterView;
  readonly #service: () => ServiceSnapshot;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #divergence: Gauge<'rule'>;
  readonly #broken: Gauge<'address'>;
  readonly #act: (verdict: Verdict) => Promise<ActionResult>;

  /** `act` receives every verdict (the remediator) and says what it did with it. */
  constructor(config: Config, views: { cluster: () => ClusterView; service: () => ServiceSnapshot }, act: (verdict: Verdict) => Promise<ActionResult>, registry: Registry, logger: Logger, now: () => number = Date.now) {
    this.#act = act;
    this.#policy = diagnosePolicy(config);
    this.#intervalMs = config.reconcile.interval_ms;
    this.#cluster = views.cluster;
    this.#service = views.service;
    this.#logger = logger.child({ component: 'reconcile' });
    this.#now = now;
    this.#divergence = new Gauge({ name: `${metricPrefix}view_divergence`, help: "1 while a rule finds the service's view diverging from the cluster's: stale_pool, false_unavailability.", labelNames: ['rule'], registers: [registry] });
    this.#broken = new Gauge({
      name: `${metricPrefix}broken_coordinator`,
      help: 'Always 1, for each local Cassandra node that answers but cannot coordinate LOCAL_QUORUM while others can (T327954): a restart of the service cannot cure it.',
      labelNames: ['address'], registers: [registry],
    });
    for (const rule of serviceRules) this.#divergence.set({ rule }, 0);
  }

  start(): void {
    this.#requeue(this.#intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #requeue(afterMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.tick().then((verdict) => {
        // Sooner than the interval when what holds the action back ends sooner: the lease's retry, the backoff
        // (not in a tight loop at the boundary millisecond).
        const until = verdict.suppressed?.until ?? null;
        this.#requeue(until === null ? this.#intervalMs : Math.max(minRequeueMs, Math.min(this.#intervalMs, until - this.#now())));
      }, (error: unknown) => {
        this.#logger.error({ error: (error as Error).message }, 'a reconcile tick failed; trying again at the next');
        this.#requeue(this.#intervalMs);
      });
    }, afterMs);
  }

  status(): ReconcileStatus {
    return this.#status;
  }

  /** The last ticks' inputs, to replay their verdicts offline. */
  inputs(): RecordedInputs {
    return { policy: this.#policy, ticks: this.#inputs };
  }

  async tick(): Promise<PublishedVerdict> {
    const inputs: TickInputs = { now: this.#now(), cluster: this.#cluster(), service: this.#service() };
    const { now, cluster } = inputs;
    this.#inputs = [...this.#inputs.filter((kept) => kept.now > now - keptInputsMs), inputs];
    const judged = judge(inputs, this.#policy, this.#memory);
    if (!judged) return this.#publish(now, notYet, this.#memory, cluster);
    const { verdict: diagnosed, memory } = judged;
    this.#memory = memory;
    const result = await this.#act(diagnosed);
    const verdict: PublishedVerdict = result.outcome === 'held' ? { ...diagnosed, action: 'suppressed', suppressed: result.held } : { ...diagnosed, suppressed: null };
    return this.#publish(now, verdict, memory, cluster);
  }

  #publish(now: number, verdict: PublishedVerdict, memory: Memory, cluster: ClusterView): PublishedVerdict {
    const iso = (ms: number): string => new Date(ms).toISOString();
    const previous = this.#verdict;
    this.#verdict = verdict;
    this.#status = {
      at: iso(now),
      verdict: { ...verdict, suppressed: showHeld(verdict.suppressed) },
      memory: {
        since: Object.fromEntries(Object.entries(memory.since).map(([rule, ms]) => [rule, iso(ms)])),
        faults: memory.faults.map((f) => ({ kind: f.kind, from: iso(f.from), to: f.to === null ? null : iso(f.to) })),
        poolMissingSince: Object.fromEntries(Object.entries(memory.poolMissingSince).map(([address, ms]) => [address, iso(ms)])),
      },
    };
    for (const rule of serviceRules) this.#divergence.set({ rule }, verdict.findings.some((f) => f.rule === rule) ? 1 : 0);
    // Every local node has its series (0 or 1), so a graph or an alert sees it end as well as begin.
    this.#broken.reset();
    for (const node of cluster.nodes) if (node.local) this.#broken.set({ address: node.address }, verdict.brokenCoordinators.includes(node.address) ? 1 : 0);
    this.#explain(previous, verdict);
    return verdict;
  }

  #explain(previous: PublishedVerdict | null, verdict: PublishedVerdict): void {
    const shape = (v: PublishedVerdict | null): string => `${v?.action ?? 'none'}|${v?.rule ?? ''}|${v?.suppressed?.reason ?? ''}|${v?.findings.map((f) => `${f.rule}:${f.addresses.join('+')}`).join(',') ?? ''}`;
    if (shape(previous) === shape(verdict)) return;
    const fields = { action: verdict.action, rule: verdict.rule ?? undefined, reason: verdict.suppressed?.reason, address: verdict.brokenCoordinators.join(', ') || undefined, evidence: verdict.evidence };
    // Cassandra's own faults, once each as they begin or change nodes: a human must act on the node.
    for (const finding of verdict.findings) {
      if (isServiceRule(finding.rule) || previous?.findings.some((f) => f.rule === finding.rule && f.addresses.join() === finding.addresses.join())) continue;
      const nodes = finding.addresses.join(', ');
      this.#logger.error({ ...fields, address: nodes || undefined, evidence: [finding.evidence] }, finding.rule === 'broken_coordinator'
        ? `Cassandra node ${nodes} cannot coordinate LOCAL_QUORUM while others can; not restarting the service (it cannot help); a human must act on the node`
        : `Cassandra ${nodes ? `node ${nodes}: its disk is full` : 'refuses writes for a full disk'}; not restarting the service (it cannot help); a human must free space on the node`);
    }
    if (verdict.action === 'restart') this.#logger.error(fields, `divergence: ${verdict.rule ?? ''} held for ${this.#policy.sustainMs / 1000} s; the service's pool needs a restart`);
    else if (verdict.action === 'suppressed') this.#logger.warn(fields, `no action: ${verdict.suppressed?.why ?? ''}`);
    else if (verdict.findings.some((f) => isServiceRule(f.rule))) this.#logger.warn(fields, `possible divergence (${verdict.findings.map((f) => f.rule).join(', ')}); watching it for ${this.#policy.sustainMs / 1000} s`);
    else if (verdict.findings.length === 0) this.#logger.info(fields, "the service's view agrees with the cluster's");
  }
}
