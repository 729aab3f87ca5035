import { YAMLMap, YAMLSeq, parse, type CollectionTag, type ScalarTag } from 'yaml';

const FUNCTIONS = ['Sub', 'Ref', 'GetAtt', 'Join', 'If', 'Select', 'Split', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'ImportValue', 'Base64', 'GetAZs', 'Condition', 'Cidr'];
const longForm = (name: string) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`);

/** CloudFormation's short-form tags, read as their long form (`!Sub x` -> `{ "Fn::Sub": "x" }`), so a template or a part of it can be sent as JSON. */
export const CLOUDFORMATION_YAML_TAGS: (ScalarTag | CollectionTag)[] = FUNCTIONS.flatMap((name) => [
  { tag: `!${name}`, resolve: (text: string) => ({ [longForm(name)]: name === 'GetAtt' ? text.split('.') : text }) },
  { tag: `!${name}`, collection: 'seq', nodeClass: YAMLSeq, resolve: (seq: YAMLSeq) => ({ [longForm(name)]: seq.toJSON() as unknown }) } as unknown as CollectionTag,
  { tag: `!${name}`, collection: 'map', nodeClass: YAMLMap, resolve: (map: YAMLMap) => ({ [longForm(name)]: map.toJSON() as unknown }) } as unknown as CollectionTag,
]);

/** A CloudFormation template's YAML (or JSON) with its short forms in long form. */
export const parseCloudFormationYaml = (text: string): unknown => parse(text, { customTags: CLOUDFORMATION_YAML_TAGS });
