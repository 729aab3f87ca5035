import type { KubeClient, KubeObject, WatchEvent } from '../../src/activities/kube-client/client';
import { KubeApiError } from '../../src/activities/kube-client/errors';
import { followObject } from '../../src/activities/kube-client/follow';

type Obj = KubeObject & { status?: { ready?: boolean } };
const obj = (resourceVersion: string, ready: boolean): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n', resourceVersion }, status: { ready } });

/**
 * A scripted stand-in for the project's own KubeClient (not for the API server): each list
 * answers the next snapshot, each watch replays the next script of events, then ends.
 */
function scripted(lists: { items: Obj[]; resourceVersion: string }[], watches: (WatchEvent<Obj>[] | Error)[]) {
  const calls: string[] = [];
  const kube = {
    list: () => {
      const next = lists.shift()!;
      calls.push(`list -> ${next.resourceVersion}`);
      return Promise.resolve(next);
    },
    watch: (_collection: unknown, query: { resourceVersion?: string }, onEvent: (event: WatchEvent<Obj>) => boolean) => {
      calls.push(`watch from ${query.resourceVersion}`);
      const script = watches.shift() ?? [];
      if (script instanceof Error) return Promise.reject(script);
      for (const event of script) if (onEvent(event)) break;
      return Promise.resolve();
    },
  };
  return { kube: kube as unknown as KubeClient, calls };
}

const follow = (kube: KubeClient) =>
  followObject<Obj, boolean | undefined>(kube, {
    ref: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n' } },
    what: 'x',
    judge: (o) => o?.status?.ready,
    done: (ready) => ready === true,
    timeoutMs: 60_000,
    onTimeout: () => new Error('timed out'),
  });

describe('followObject', () => {
  it('watches from the listed resourceVersion and renews a watch the server ended from the last one it saw (bookmarks too)', async () => {
    const { kube, calls } = scripted(
      [{ items: [obj('10', false)], resourceVersion: '10' }],
      [[{ type: 'MODIFIED', object: obj('11', false) }, { type: 'BOOKMARK', object: obj('15', false) }], [{ type: 'MODIFIED', object: obj('16', true) }]],
    );
    await expect(follow(kube)).resolves.toBe(true);
    expect(calls).toEqual(['list -> 10', 'watch from 10', 'watch from 15']);
  });

  it('lists again when the resourceVersion has expired (410 Gone as an ERROR event or as the answer)', async () => {
    const gone = { type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version' } } as unknown as WatchEvent<Obj>;
    const { kube, calls } = scripted(
      [
        { items: [obj('10', false)], resourceVersion: '10' },
        { items: [obj('20', false)], resourceVersion: '20' },
        { items: [obj('30', true)], resourceVersion: '30' },
      ],
      [[gone], new KubeApiError('WATCH', '/api/v1/namespaces/n/configmaps', 410, 'Expired', 'too old resource version')],
    );
    await expect(follow(kube)).resolves.toBe(true);
    expect(calls).toEqual(['list -> 10', 'watch from 10', 'list -> 20', 'watch from 20', 'list -> 30']);
  });

  it('passes any other watch error on', async () => {
    const { kube } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], [new KubeApiError('WATCH', '/x', 403, 'Forbidden', 'no')]);
    await expect(follow(kube)).rejects.toMatchObject({ status: 403 });
  });
});
