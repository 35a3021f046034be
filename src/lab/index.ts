/**
 * Lab node process management, used by `pbxctl lab up/down/status/logs` and the end-to-end tests:
 * port plans, rendering the Kamailio script, starting RTPengine, Kamailio and the feature daemon in
 * the foreground, stopping exactly the processes that were started.
 */
export { PORT_BLOCK_SIZE, findBusyPorts, portPlan, type LabPortPlan, type PortPlan } from './ports.js';
export { DEBIAN_PACKAGES, aptInstallCommand, findProgram, type LabProgram } from './binaries.js';
export { isProcessAlive, logTail, stopProcess, type LabProcess, type StopResult } from './process.js';
export { ngPing, rtpengineCommand, startRtpengine, type RtpengineOptions } from './rtpengine.js';
export { DAEMON_COMMAND_MARK, PBXCTL_BIN, featureDaemonCommand, startFeatureDaemon, writeDaemonToken, type FeatureDaemonOptions } from './daemon.js';
export {
  KAMAILIO_TEMPLATE,
  checkKamailioConfig,
  kamailioRpcCall,
  renderKamailioConfig,
  startKamailio,
  type KamailioConfigParams,
  type KamailioOptions,
} from './kamailio.js';
