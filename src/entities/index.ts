/** Every entity of the package: the aggregate root and its owned parts. */
export { RunObject } from './run-object.entity';
export { RunTool, RunFileId } from './collections.entity';
export {
  RunRequiredAction,
  RunToolCall,
  RunLastError,
  RunIncompleteDetails,
  RunUsage,
  RunTruncationStrategy,
  RunToolChoice,
  RunResponseFormat,
} from './parts.entity';
export { RunStatusChange, RunToolOutput } from './history.entity';
