/**
 * The data set's channels matched to the ones a model was trained on, by name: reordered (or a
 * subset picked) when both sides name their channels, an error when the model needs a channel
 * the data set lacks, and by position, with a warning, only when the model names none.
 */
import type { Dataset } from '../data/image-dataset.ts';
import { channelIndices, channelKey } from '../data/channel-order.ts';
import { UserError } from '../util/errors.ts';

/** The model's training channels from its saved metadata, when it records them. */
function namesOf(modelChannels: unknown): string[] | undefined {
  return Array.isArray(modelChannels) && modelChannels.length > 0 && modelChannels.every((c) => typeof c === 'string' && c !== '') ? modelChannels : undefined;
}

/**
 * `data` with the model's channels in the model's order. `modelDir` names the model in messages;
 * `log` gets one line when channels are reordered or taken by position.
 */
export function matchModelChannels(modelChannels: unknown, data: Dataset, modelDir: string, log?: (line: string) => void): Dataset {
  const model = namesOf(modelChannels);
  if (!model) {
    log?.(`warning: ${modelDir} does not record the channels it was trained on; the data set's channels [${data.channels.join(', ')}] are taken by position.`);
    return data;
  }
  const order = channelIndices(model, data.channels);
  const missing = model.filter((_, k) => order[k] < 0);
  if (missing.length) {
    throw new UserError(
      `The model ${modelDir} was trained on channels [${model.join(', ')}] but the data set ${data.root} has [${data.channels.join(', ')}]: ` +
        `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing. Name the data set's channels as the model's (--channels, --channel-name, data.channels).`,
    );
  }
  const same = model.length === data.channels.length && model.every((c, k) => channelKey(c) === channelKey(data.channels[k]));
  if (same) return data;
  log?.(`channels taken by name: the data set's [${data.channels.join(', ')}] are fed as the model's [${model.join(', ')}]`);
  return data.selectChannels(model);
}
