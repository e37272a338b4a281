// tap runs this once after all test files: the cluster is stopped if this run started it.
import { runClusterPhase } from './cluster-phase.ts';

runClusterPhase('end');
