/* bench:api with BENCH_PROJECTOR=thread (diagnosis only): the projector as `npm start` runs it,
 * but on a worker thread of its own, so that its round trips do not queue behind the API's
 * requests on one event loop. What apps/projector in a separate process would give, minus a
 * process. Loaded by startProjectorThread (api-workers.ts) through ts-node. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfiguration } from '../../libs/config/src';
import { loadMasterKey } from '../../libs/crypto/src';
import { PROJECTIONS, startPostgresProjector } from '../../libs/read-model/src';

const { databaseUrl, dataDir } = workerData as { databaseUrl: string; dataDir: string };

async function run(): Promise<void> {
  // The same DATA_DIR as the API's, so the same development master key.
  const { provider } = await loadMasterKey(loadConfiguration({ DATA_DIR: dataDir }));
  const projector = startPostgresProjector(
    databaseUrl,
    PROJECTIONS,
    (message, fields) => {
      if (message.includes('failed')) console.error(`projector: ${message}`, fields);
    },
    provider,
  );
  parentPort!.once('message', () => {
    void projector.stop().then(() => {
      parentPort!.postMessage('stopped');
      parentPort!.close();
    });
  });
  parentPort!.postMessage('started');
}

void run();
