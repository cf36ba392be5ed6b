/**
 * Any two lifecycle operations racing on one run must behave as if they ran one after the other:
 * the outcomes and the stored run equal the contract model's result of one of the two serial orders.
 */
import { isDeepStrictEqual } from 'node:util';
import { toApiRun } from '../../src/api/mapping';
import { useTestDatabase } from '../support/test-database';
import {
  ACTIVE,
  OPS,
  apiRunInStatus,
  applyOp,
  expectedApi,
  modelOf,
  observed,
  outcomeOf,
  perform,
  stampsOf,
  storedStamps,
  timestampViolations,
  validOp,
  type ModelRun,
  type Op,
  type Outcome,
} from './contract';
import { raceTally } from './seed';

const db = useTestDatabase();

const { race } = raceTally();

describe('any two operations racing on one run are linearizable', () => {
  const ITERATIONS = 300;

  /** The model's result of running a then b, from `start`. */
  function serial(start: ModelRun, first: Op, second: Op): { outcomes: [Outcome, Outcome]; run: ModelRun } {
    const run: ModelRun = JSON.parse(JSON.stringify(start)); // (structuredClone would build objects of another realm under jest)
    const o1 = applyOp(run, first);
    const o2 = applyOp(run, second);
    return { outcomes: [o1, o2], run };
  }

  it(`${ITERATIONS} random pairs of operations on runs in random active statuses match one of the two serial orders`, async () => {
    const rnd = (n: number) => Math.floor(Math.random() * n);
    const spec = {
      iterations: ITERATIONS,
      prepare: async (n: number) => Array.from({ length: n }, () => null),
      // both orders must really happen: the operation issued second sometimes takes effect first
      mustOccur: ['issued order', 'reverse order', 'either order', 'ok/ok', 'ok/invalid', 'invalid/ok', 'invalid/invalid'],
      mayOccur: ['ok/validation', 'validation/ok'],
    };
    await race('linearizable pair', spec, async () => {
      const status = ACTIVE[rnd(ACTIVE.length)];
      const api = apiRunInStatus(status);
      await db.runs().importRun(api);
      const model = modelOf(toApiRun(await db.runs().getById(api.id)));
      const pick = (): Op => {
        const name = OPS[rnd(OPS.length)];
        return validOp(name, model.toolCalls ?? undefined);
      };
      const a = pick();
      const b = pick();
      const [oa, ob] = await Promise.all([outcomeOf(perform(db.runs(), api.id, a)), outcomeOf(perform(db.runs(), api.id, b))]);
      const stored = await db.runs().getById(api.id);
      expect(timestampViolations(stored)).toEqual([]);
      const ab = serial(model, a, b);
      const ba = serial(model, b, a);
      const actual = { outcomes: [oa, ob], state: observed(toApiRun(stored)), stamps: storedStamps(stored) };
      const asAB = { outcomes: ab.outcomes, state: expectedApi(ab.run), stamps: stampsOf(ab.run) };
      const asBA = { outcomes: [ba.outcomes[1], ba.outcomes[0]], state: expectedApi(ba.run), stamps: stampsOf(ba.run) };
      const matches = [asAB, asBA].filter((candidate) => isDeepStrictEqual(candidate, actual));
      if (matches.length === 0) {
        expect({ race: `${status}: ${a.name} ‖ ${b.name}`, actual }).toEqual({ race: `${status}: ${a.name} ‖ ${b.name}`, actual: [asAB, asBA] });
      }
      const order = matches.length === 2 ? 'either order' : matches[0] === asAB ? 'issued order' : 'reverse order';
      return [order, `${oa.kind}/${ob.kind}`];
    });
  });
});
