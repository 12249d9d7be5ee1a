import type { CommandModule } from 'yargs';
import { dataCommand } from './data.ts';
import { embedCommand } from './embed.ts';
import { evaluateCommand } from './evaluate.ts';
import { infoCommand } from './info.ts';
import { pretrainCommand } from './pretrain.ts';
import { profilesCommand } from './profiles.ts';
import { reportCommand } from './report.ts';
import { runCommand } from './run.ts';
import { trainCommand } from './train.ts';

/** Every `ben` sub-command; adding one is one import and one line here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [infoCommand, dataCommand, reportCommand, embedCommand, trainCommand, profilesCommand, evaluateCommand, pretrainCommand, runCommand];
