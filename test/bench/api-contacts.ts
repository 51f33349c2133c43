/* Realistic, varied contacts for bench:api, generated from fixed lists with a seeded generator so
 * that runs are comparable. Names, companies and e-mail domains repeat across organisations the way
 * real ones do, so a three-letter fragment matches some contacts of an organisation, not one and
 * not all. */

// prettier-ignore
const FIRST_NAMES = [
  'Ada', 'Alan', 'Alice', 'Amara', 'Amelia', 'Andrew', 'Anika', 'Anna', 'Arjun', 'Beatrice', 'Ben',
  'Bethany', 'Bruno', 'Camille', 'Carlos', 'Charlotte', 'Chen', 'Chloe', 'Claire', 'Daniel',
  'David', 'Deborah', 'Dmitri', 'Eleanor', 'Elif', 'Elijah', 'Emma', 'Emeka', 'Ethan', 'Eva',
  'Fatima', 'Felix', 'Fiona', 'Francesca', 'Gabriel', 'George', 'Grace', 'Hamza', 'Hannah', 'Harry',
  'Hiroshi', 'Ibrahim', 'Imogen', 'Ines', 'Isaac', 'Isla', 'Ivan', 'Jack', 'Jakub', 'James',
  'Jasmine', 'Javier', 'Jessica', 'Joanna', 'José', 'Joshua', 'Julia', 'Kai', 'Karim', 'Katarzyna',
  'Kemi', 'Laura', 'Leo', 'Liam', 'Lily', 'Lucas', 'Lucy', 'Magnus', 'Maja', 'Marco', 'Margaret',
  'Maria', 'Mateo', 'Matthew', 'Mei', 'Mohammed', 'Nadia', 'Naomi', 'Nathan', 'Niamh', 'Nikolai',
  'Noah', 'Nora', 'Olivia', 'Omar', 'Oscar', 'Owen', 'Patrick', 'Priya', 'Rachel', 'Rahul',
  'Rebecca', 'Riya', 'Robert', 'Rosa', 'Ruth', 'Saanvi', 'Samuel', 'Sarah', 'Sebastian', 'Sian',
  'Sofia', 'Sophie', 'Stefan', 'Tariq', 'Theo', 'Thomas', 'Tomás', 'Uma', 'Victoria', 'Wei',
  'William', 'Yara', 'Yusuf', 'Zara', 'Zoë', 'Zofia', 'Amir', 'Björn', 'Chiara',
];

// prettier-ignore
const LAST_NAMES = [
  'Abbott', 'Achebe', 'Adeyemi', 'Ahmed', 'Andersson', 'Armstrong', 'Bailey', 'Baker', 'Banerjee',
  'Barker', 'Bennett', 'Bianchi', 'Black', 'Brennan', 'Brooks', 'Brown', 'Byrne', 'Campbell',
  'Carter', 'Castillo', 'Chakraborty', 'Chapman', 'Chen', 'Clarke', 'Collins', 'Cooper', 'Costa',
  'Cox', 'Davies', 'Dawson', 'Dubois', 'Duffy', 'Edwards', 'Ellis', 'Evans', 'Fernández', 'Fischer',
  'Fitzgerald', 'Fletcher', 'Foster', 'Fraser', 'García', 'Gallagher', 'Gibson', 'Gonzalez',
  'Graham', 'Grant', 'Gray', 'Green', 'Griffiths', 'Gupta', 'Hall', 'Hamilton', 'Hansen', 'Harris',
  'Hassan', 'Hayes', 'Henderson', 'Hill', 'Hoffmann', 'Holmes', 'Hughes', 'Hunt', 'Hussain',
  'Ivanova', 'Jackson', 'James', 'Jenkins', 'Jensen', 'Johnson', 'Jones', 'Kaur', 'Kelly',
  'Kennedy', 'Khan', 'Kim', 'King', 'Kowalski', 'Kumar', 'Lambert', 'Larsen', 'Lee', 'Lewis', 'Li',
  'Lindqvist', 'Lopez', 'MacDonald', 'Marshall', 'Martin', 'Mason', 'McCarthy', 'Mehta', 'Mitchell',
  'Moore', 'Morgan', 'Morris', 'Müller', 'Murphy', 'Murray', 'Nakamura', 'Nguyen', 'Nielsen',
  'Novak', "O'Brien", "O'Connor", 'Okafor', 'Oliveira', 'Owen', 'Palmer', 'Parker', 'Patel',
  'Pearson', 'Perera', 'Petrov', 'Phillips', 'Popescu', 'Powell', 'Price', 'Quinn', 'Rahman',
  'Reid', 'Reyes', 'Richards', 'Roberts', 'Robinson', 'Rodríguez', 'Rossi', 'Russell', 'Saunders',
  'Schmidt', 'Scott', 'Shah', 'Sharma', 'Silva', 'Simmons', 'Singh', 'Smith', 'Sørensen', 'Stewart',
  'Stone', 'Suzuki', 'Tanaka', 'Taylor', 'Thomas', 'Thompson', 'Turner', 'Urquhart', 'Van Dijk',
  'Vasquez', 'Walker', 'Wallace', 'Walsh', 'Wang', 'Ward', 'Watson', 'Webb', 'White', 'Williams',
  'Wilson', 'Wong', 'Wood', 'Wright', 'Yamamoto', 'Young', 'Zhang',
];

// prettier-ignore
const COMPANY_STEMS = [
  'Aldgate', 'Amber', 'Anchor', 'Apex', 'Arden', 'Atlas', 'Aurora', 'Beacon', 'Birch', 'Blue Fin',
  'Bramble', 'Brightwater', 'Cedar', 'Cobalt', 'Copperleaf', 'Crescent', 'Crown', 'Dovetail',
  'Eastgate', 'Elm', 'Ember', 'Falcon', 'Fenwick', 'Fieldstone', 'Foxglove', 'Granite', 'Greenhill',
  'Harbour', 'Hawthorn', 'Heron', 'Highland', 'Ironbridge', 'Juniper', 'Kestrel', 'Lakeside',
  'Lantern', 'Larch', 'Lighthouse', 'Maple', 'Meridian', 'Millstone', 'Northwind', 'Oakridge',
  'Orchard', 'Osprey', 'Pennant', 'Pinnacle', 'Quarry', 'Quayside', 'Raven', 'Redwood', 'Riverside',
  'Rowan', 'Saffron', 'Sandstone', 'Silverline', 'Skylark', 'Sterling', 'Summit', 'Thistle',
  'Thornbury', 'Tidewater', 'Trident', 'Vantage', 'Westbrook', 'Willow', 'Windmill', 'Wren',
  'Yew Tree', 'Zenith',
];

// prettier-ignore
const COMPANY_TRADES = [
  'Analytics', 'Architects', 'Bakery', 'Biotech', 'Brewing', 'Builders', 'Capital', 'Catering',
  'Consulting', 'Design', 'Dynamics', 'Energy', 'Engineering', 'Foods', 'Freight', 'Health',
  'Holdings', 'Insurance', 'Labs', 'Legal', 'Logistics', 'Media', 'Medical', 'Motors', 'Networks',
  'Partners', 'Pharma', 'Print', 'Property', 'Recruitment', 'Robotics', 'Security', 'Software',
  'Solutions', 'Studios', 'Systems', 'Telecom', 'Textiles', 'Travel', 'Ventures',
];

const COMPANY_SUFFIXES = ['Ltd', 'Ltd', 'Ltd', 'plc', 'LLP', 'GmbH', 'SA', 'Inc.', 'BV', '& Co'];

// prettier-ignore
const JOB_TITLES = [
  'Account Manager', 'Accountant', 'Business Analyst', 'Buyer', 'Chief Executive',
  'Chief Financial Officer', 'Chief Technology Officer', 'Communications Lead',
  'Customer Success Manager', 'Data Scientist', 'Designer', 'Director of Operations', 'Engineer',
  'Facilities Manager', 'Finance Director', 'Founder', 'Head of Procurement', 'Head of Sales',
  'HR Business Partner', 'Legal Counsel', 'Marketing Manager', 'Office Manager',
  'Operations Analyst', 'Partner', 'Product Manager', 'Project Manager', 'Purchasing Officer',
  'Researcher', 'Sales Executive', 'Software Developer',
];

// prettier-ignore
const TAGS = [
  'vip', 'customer', 'prospect', 'lead', 'partner', 'supplier', 'investor', 'press', 'newsletter',
  'event-2025', 'event-2026', 'trial', 'churned', 'renewal-due', 'enterprise', 'smb',
  'public-sector', 'charity', 'london', 'manchester', 'edinburgh', 'dublin', 'berlin', 'paris',
  'remote', 'decision-maker', 'champion', 'technical', 'finance', 'legal', 'marketing',
  'do-not-call', 'referral', 'conference', 'webinar', 'cold', 'warm', 'hot', 'follow-up', 'board',
];

// prettier-ignore
const CITIES = [
  ['London', 'EC1A 1BB'], ['Manchester', 'M1 1AE'], ['Birmingham', 'B1 1AA'], ['Leeds', 'LS1 4AP'],
  ['Glasgow', 'G1 1XQ'], ['Edinburgh', 'EH1 1YZ'], ['Bristol', 'BS1 4DJ'], ['Cardiff', 'CF10 1EP'],
  ['Belfast', 'BT1 5GS'], ['Liverpool', 'L1 8JQ'], ['Newcastle', 'NE1 7RU'],
  ['Sheffield', 'S1 2HE'], ['Nottingham', 'NG1 5FS'], ['Cambridge', 'CB2 1TN'],
  ['Oxford', 'OX1 2JD'], ['York', 'YO1 7HH'],
] as const;

// prettier-ignore
const STREETS = [
  'High Street', 'Station Road', 'Church Lane', 'Market Square', 'Victoria Road', 'Mill Lane',
  'King Street', 'Queen Street', 'Park Road', 'The Green', 'Chapel Street', 'Bridge Street',
];

const NOTES = [
  'Met at the spring trade fair; interested in a pilot.',
  'Prefers e-mail to calls. Send the quarterly summary.',
  'Introduced by a mutual contact. Budget decisions in Q3.',
  'Asked for a proposal covering three sites.',
  'Renewal conversation pending; loop in finance.',
  'Speaks at industry events; potential case study.',
];

/** A small, fast, seedable generator (mulberry32): the same seed gives the same contacts. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

export interface GeneratedContact {
  readonly firstName: string;
  readonly lastName: string;
  readonly emails: { address: string; label?: string }[];
  readonly phones: { number: string; label?: string }[];
  readonly company: string | null;
  readonly jobTitle: string | null;
  readonly address: {
    line1: string;
    line2: null;
    city: string;
    region: null;
    postalCode: string;
    country: string;
  } | null;
  readonly tags: string[];
  readonly notes: string | null;
}

/** Lower-case ASCII for e-mail local parts and domains: accents dropped, other marks removed. */
function ascii(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/ø/g, 'o')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

// Ofcom's drama ranges: valid UK numbers that are never anyone's.
const DRAMA_PREFIXES = [
  '+44 20 7946 0',
  '+44 113 496 0',
  '+44 161 496 0',
  '+44 117 496 0',
  '+44 131 496 0',
];

function dramaNumber(random: SeededRandom): string {
  return `${random.pick(DRAMA_PREFIXES)}${String(random.int(1000)).padStart(3, '0')}`;
}

/** One organisation's customer base: a few hundred companies its contacts work for. */
export function companyName(random: SeededRandom): string {
  return `${random.pick(COMPANY_STEMS)} ${random.pick(COMPANY_TRADES)} ${random.pick(COMPANY_SUFFIXES)}`;
}

export function generateContact(
  random: SeededRandom,
  companies: readonly string[],
): GeneratedContact {
  const firstName = random.pick(FIRST_NAMES);
  const lastName = random.pick(LAST_NAMES);
  const company = random.chance(0.85) ? random.pick(companies) : null;
  const domain = company
    ? `${ascii(company.split(' ').slice(0, 2).join(''))}.co.uk`
    : random.pick(['gmail.com', 'outlook.com', 'proton.me', 'icloud.com']);
  const local = random.chance(0.7)
    ? `${ascii(firstName)}.${ascii(lastName)}`
    : `${ascii(firstName)[0]}${ascii(lastName)}${random.int(100)}`;
  const emails = [{ address: `${local}@${domain}`, label: 'work' }];
  if (random.chance(0.2))
    emails.push({ address: `${ascii(firstName)}${random.int(1000)}@gmail.com`, label: 'home' });
  const phones: { number: string; label?: string }[] = [];
  if (random.chance(0.7)) phones.push({ number: dramaNumber(random), label: 'work' });
  const direct = dramaNumber(random);
  if (random.chance(0.3) && !phones.some((p) => p.number === direct))
    phones.push({ number: direct, label: 'direct' });
  const [city, postalCode] = random.pick(CITIES);
  const tags = new Set<string>();
  for (let n = random.int(5); n > 0; n--) tags.add(random.pick(TAGS));
  return {
    firstName,
    lastName,
    emails,
    phones,
    company,
    jobTitle: random.chance(0.8) ? random.pick(JOB_TITLES) : null,
    address: random.chance(0.5)
      ? {
          line1: `${1 + random.int(200)} ${random.pick(STREETS)}`,
          line2: null,
          city,
          region: null,
          postalCode,
          country: 'GB',
        }
      : null,
    tags: [...tags],
    notes: random.chance(0.3) ? random.pick(NOTES) : null,
  };
}

/** A change a client might send as a PATCH: a new job title and tags, sometimes a phone. */
export function generatePatch(random: SeededRandom): Record<string, unknown> {
  const tags = new Set<string>();
  for (let n = 1 + random.int(3); n > 0; n--) tags.add(random.pick(TAGS));
  return {
    jobTitle: random.pick(JOB_TITLES),
    tags: [...tags],
    ...(random.chance(0.3) ? { phones: [{ number: dramaNumber(random) }] } : {}),
  };
}

/**
 * A three-letter fragment a user might type to find this contact: from the last name, the company
 * or the e-mail address, lower case as typed. Never a fragment with spaces or punctuation.
 */
export function searchFragment(
  random: SeededRandom,
  contact: {
    lastName: string | null;
    company: string | null;
    email: string | null;
  },
): string {
  const sources = [contact.lastName, contact.company, contact.email?.split('@')[0]]
    .filter((s): s is string => !!s)
    .map((s) => s.toLowerCase().replace(/[^\p{L}]+/gu, ''))
    .filter((s) => s.length >= 3);
  const source = random.pick(sources.length > 0 ? sources : ['son']);
  const start = random.int(source.length - 2);
  return source.slice(start, start + 3);
}
